"""Celery tasks of the workforce transition: a few lines each, ids in, a service call."""

from celery import shared_task

from channels_app.workforce.services.moves import send_agent_notices


@shared_task(
    name="channels_app.tasks.send_agent_notices_task", ignore_result=True, acks_late=True, reject_on_worker_lost=True
)
def send_agent_notices_task(plan_id: int | None = None) -> int:
    """Email agents their destination; queued by notify_agents and swept by beat."""
    return send_agent_notices(plan_id=plan_id)
