"""Celery tasks of the workforce transition: a few lines each, ids in, a service call."""

from celery import shared_task

from channels_app.workforce.services.agent_page import queue_agent_reminders, send_agent_messages
from channels_app.workforce.services.moves import send_agent_notices


@shared_task(
    name="channels_app.tasks.send_agent_notices_task", ignore_result=True, acks_late=True, reject_on_worker_lost=True
)
def send_agent_notices_task(plan_id: int | None = None) -> int:
    """Email agents their destination; queued by notify_agents and swept by beat."""
    return send_agent_notices(plan_id=plan_id)


@shared_task(
    name="channels_app.tasks.send_agent_messages_task", ignore_result=True, acks_late=True, reject_on_worker_lost=True
)
def send_agent_messages_task() -> int:
    """Write the reminders that are due, then send every queued agent message (reminders, HR's
    replies, new links); run by beat and queued after HR replies."""
    queue_agent_reminders()
    return send_agent_messages()
