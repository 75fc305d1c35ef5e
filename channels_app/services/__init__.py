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
    RegionInput,
    approve_plan,
    cancel_plan,
    confirm_reassignments,
    create_plan,
    follow_the_sun,
    reject_plan,
    reschedule_phase,
    submit_plan,
    update_plan,
)
from .polling import poll_email_channel, poll_youtube_channel
from .reminders import queue_due_reminders, send_pending_reminders
from .rollback import rollback_run
from .watchdog import check_retired_channels, record_click

__all__ = [
    "check_retired_channels",
    "record_click",
    "queue_due_reminders",
    "rollback_run",
    "send_pending_reminders",
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
    "RegionInput",
    "follow_the_sun",
    "approve_plan",
    "cancel_plan",
    "claim_due_phases",
    "confirm_reassignments",
    "create_plan",
    "reap_stuck_runs",
    "record_event",
    "reject_plan",
    "reschedule_phase",
    "run_cutover",
    "submit_plan",
    "update_plan",
    "InboundResult",
    "SendReport",
    "poll_email_channel",
    "poll_youtube_channel",
    "receive_messages",
    "retry_failed_replies",
    "send_due_replies",
]

# Workforce transition: destinations for affected agents, the submit guard, agent emails.
from .reassignment_csv import CsvImportError, export_reassignments_csv, import_reassignments_csv  # noqa: E402
from .workforce import (  # noqa: E402
    MoveRequest,
    MovesRefused,
    accept_suggestion,
    assign_agents,
    check_destinations,
    clear_destinations,
    confirm_moves,
    notify_agents,
    propose_moves,
    send_agent_notices,
    suggest_destinations,
    update_staffing_inputs,
)

__all__ += [
    "CsvImportError",
    "MoveRequest",
    "MovesRefused",
    "accept_suggestion",
    "assign_agents",
    "check_destinations",
    "clear_destinations",
    "confirm_moves",
    "export_reassignments_csv",
    "import_reassignments_csv",
    "notify_agents",
    "propose_moves",
    "send_agent_notices",
    "suggest_destinations",
    "update_staffing_inputs",
]

from .bulk import propose_reassignments  # noqa: E402
from .tokens import create_api_token, find_api_token, note_token_use, revoke_api_token  # noqa: E402

__all__ += ["create_api_token", "find_api_token", "note_token_use", "propose_reassignments", "revoke_api_token"]

# The browser portal's writes (profile, wizard drafts).
from .portal import (  # noqa: E402
    discard_plan_draft,
    finish_plan_draft,
    open_plan_draft,
    save_plan_draft,
    update_profile,
)

__all__ += ["discard_plan_draft", "finish_plan_draft", "open_plan_draft", "save_plan_draft", "update_profile"]
