"""Queue a Celery task after the current transaction commits, by the task's registered name.

Services enqueue through this one helper and never import a tasks module: tasks import services
(the reverse import would be a cycle), and a task queued before the commit could run before the
rows it reads exist (or for rows a rollback then removes).
"""

import logging
import time

from celery import current_app
from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

# Registered task names (pinned in each tasks.py so queued messages and the beat schedule keep
# routing across releases).
SEND_AGENT_NOTICES = "channels_app.tasks.send_agent_notices_task"
SEND_AGENT_MESSAGES = "channels_app.tasks.send_agent_messages_task"
SEND_DUE_REPLIES = "channels_app.inbound_tasks.send_due_replies_task"
SEND_HANDOFFS = "channels_app.tasks.send_handoffs_task"

_last_kick = 0.0


def enqueue_on_commit(task_name: str, *args, **kwargs) -> None:
    transaction.on_commit(lambda: current_app.send_task(task_name, args=args, kwargs=kwargs))


def kick_on_commit(task_name: str) -> None:
    """Queue a sender that beat also runs on its own, after the commit, best effort: a broker that
    is down must not fail the change that wrote the rows (they are committed; beat sends them)."""
    transaction.on_commit(lambda: current_app.send_task(task_name), robust=True)


def kick_outbox() -> None:
    """Queue the sender after a commit that wrote outbox rows.

    At most once per DUSK_OUTBOX_KICK_INTERVAL per process: one sender drains everything due,
    so a burst of webhooks needs one task, not one each; beat's sweep is the safety net for a
    row committed just after a sender finished, and for a broker that was down.
    """
    global _last_kick
    now = time.monotonic()
    if now - _last_kick < settings.DUSK_OUTBOX_KICK_INTERVAL:
        return
    _last_kick = now
    try:
        current_app.send_task(SEND_DUE_REPLIES)
    except Exception as exc:  # the rows are committed; the sweep will send them
        log.warning("could not queue the outbox sender (beat's sweep will): %s", exc)
