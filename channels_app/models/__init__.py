"""Every model of the app, one module per concern, imported here for `from channels_app.models import X`."""

from channels_app.models.audit import AuditChainHead, AuditEvent
from channels_app.models.channels import Channel, ChannelKind, ChannelState
from channels_app.models.conversations import (
    Conversation,
    ConversationState,
    Direction,
    Message,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    new_reference,
)
from channels_app.models.delivery import ReplyCooldown, SendBudget, WebhookToken
from channels_app.models.handoff import HandoffRequest, HandoffState, LandingPage, LandingVisit, VisitKind
from channels_app.models.notices import NoticeChannel, PlanEvent, PlanNotice
from channels_app.models.operations import Heartbeat
from channels_app.models.plans import (
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
from channels_app.models.portal import PlanDraft, UserProfile
from channels_app.models.runs import (
    FINISHED_RUN_STATES,
    STEP_ORDER,
    CutoverRun,
    Notification,
    NotificationState,
    Reminder,
    RunState,
    Step,
)
from channels_app.models.tokens import ApiToken, TokenScope
from channels_app.models.transition import AgentNotice, NoticeState, PlanStaffing
from channels_app.models.watchdog import AlertKind, RedirectClick, WatchdogAlert
from channels_app.models.workforce import Agent, Assignment, Team

__all__ = [
    "HandoffRequest",
    "HandoffState",
    "LandingPage",
    "LandingVisit",
    "VisitKind",
    "NoticeChannel",
    "PlanEvent",
    "PlanNotice",
    "AlertKind",
    "RedirectClick",
    "WatchdogAlert",
    "WebhookToken",
    "OPEN_PLAN_STATES",
    "PHASE_ORDER",
    "FINISHED_RUN_STATES",
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
    "AgentNotice",
    "NoticeState",
    "PlanStaffing",
    "PlanDraft",
    "UserProfile",
    "Heartbeat",
]
