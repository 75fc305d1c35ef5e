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
from .delivery import ReplyCooldown, SendBudget
from .plans import (
    OPEN_PLAN_STATES,
    PHASE_ORDER,
    AutoReply,
    Phase,
    PhaseKind,
    PhaseState,
    PlanChannel,
    PlanRegion,
    PlanState,
    Reassignment,
    ReassignmentState,
    RedirectKind,
    RedirectTarget,
    SunsetPlan,
)
from .runs import STEP_ORDER, CutoverRun, Notification, NotificationState, Reminder, RunState, Step
from .tokens import ApiToken, TokenScope
from .watchdog import AlertKind, RedirectClick, WatchdogAlert
from .workforce import Agent, Assignment, Team

__all__ = [
    "AlertKind",
    "RedirectClick",
    "WatchdogAlert",
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
    "PlanRegion",
    "PlanState",
    "Reassignment",
    "ReassignmentState",
    "RedirectKind",
    "RedirectTarget",
    "Reminder",
    "RunState",
    "Step",
    "SunsetPlan",
    "Team",
    "new_reference",
    "ApiToken",
    "TokenScope",
    "ReplyCooldown",
    "SendBudget",
]

# Workforce transition (plan staffing inputs, agent notices).
from .transition import AgentNotice, NoticeState, PlanStaffing  # noqa: E402

__all__ += ["AgentNotice", "NoticeState", "PlanStaffing"]

# The browser portal (per-person time zone, wizard drafts).
from .portal import PlanDraft, UserProfile  # noqa: E402

__all__ += ["PlanDraft", "UserProfile"]
