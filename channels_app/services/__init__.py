"""All writes go through these functions. Views, the API, admin actions,
management commands and Celery tasks call them; nothing else writes."""

from .audit import record_event
from .cutover import claim_due_phases, reap_stuck_runs, run_cutover
from .directory import create_agent, create_team, register_channel, update_agent, update_channel, update_team
from .errors import CutoverAborted, InvalidTransition, LeaseLost
from .inbound import InboundResult, receive_messages
from .outbox import SendReport, retry_failed_replies, send_due_replies
from .plans import (
    AutoReplyInput,
    PhaseInput,
    RedirectInput,
    approve_plan,
    cancel_plan,
    confirm_reassignments,
    create_plan,
    propose_reassignment,
    reject_plan,
    reschedule_phase,
    submit_plan,
    update_plan,
)
from .polling import poll_youtube_channel

__all__ = [
    "create_agent",
    "create_team",
    "register_channel",
    "update_agent",
    "update_channel",
    "update_team",
    "AutoReplyInput",
    "CutoverAborted",
    "InvalidTransition",
    "LeaseLost",
    "PhaseInput",
    "RedirectInput",
    "approve_plan",
    "cancel_plan",
    "claim_due_phases",
    "confirm_reassignments",
    "create_plan",
    "propose_reassignment",
    "reap_stuck_runs",
    "record_event",
    "reject_plan",
    "reschedule_phase",
    "run_cutover",
    "submit_plan",
    "update_plan",
    "InboundResult",
    "SendReport",
    "poll_youtube_channel",
    "receive_messages",
    "retry_failed_replies",
    "send_due_replies",
]
