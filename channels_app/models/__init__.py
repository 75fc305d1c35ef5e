from .audit import AuditChainHead, AuditEvent
from .channels import Channel, ChannelKind, ChannelState
from .conversations import (
    Conversation,
    ConversationState,
    Direction,
    Message,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    new_reference,
)
from .plans import (
    OPEN_PLAN_STATES,
    PHASE_ORDER,
    AutoReply,
    Phase,
    PhaseKind,
    PhaseState,
    PlanChannel,
    PlanState,
    Reassignment,
    ReassignmentState,
    RedirectKind,
    RedirectTarget,
    SunsetPlan,
)
from .runs import STEP_ORDER, CutoverRun, Notification, NotificationState, RunState, Step
from .workforce import Agent, Assignment, Team

__all__ = [
    "OPEN_PLAN_STATES",
    "PHASE_ORDER",
    "STEP_ORDER",
    "Agent",
    "Assignment",
    "AuditChainHead",
    "AuditEvent",
    "AutoReply",
    "Channel",
    "ChannelKind",
    "ChannelState",
    "Conversation",
    "ConversationState",
    "CutoverRun",
    "Direction",
    "Message",
    "Notification",
    "NotificationState",
    "OutboxKind",
    "OutboxMessage",
    "OutboxState",
    "Phase",
    "PhaseKind",
    "PhaseState",
    "PlanChannel",
    "PlanState",
    "Reassignment",
    "ReassignmentState",
    "RedirectKind",
    "RedirectTarget",
    "RunState",
    "Step",
    "SunsetPlan",
    "Team",
    "new_reference",
]

# The browser portal (per-person time zone, wizard drafts).
from .portal import PlanDraft, UserProfile  # noqa: E402

__all__ += ["PlanDraft", "UserProfile"]
