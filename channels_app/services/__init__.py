"""All writes go through these functions. Views, the API, admin actions,
management commands and Celery tasks call them; nothing else writes."""

from .audit import record_event
from .cutover import claim_due_phases, reap_stuck_runs, run_cutover
from .directory import create_agent, create_team, register_channel, update_agent, update_channel, update_team
from .errors import CutoverAborted, InvalidTransition, LeaseLost
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
]

from .bulk import propose_reassignments  # noqa: E402
from .tokens import create_api_token, find_api_token, note_token_use, revoke_api_token  # noqa: E402

__all__ += ["create_api_token", "find_api_token", "note_token_use", "propose_reassignments", "revoke_api_token"]
