"""Celery tasks of plans: sending what a plan tells people as it moves. Names are pinned."""

from celery import shared_task

from channels_app.plans.services.notices import send_plan_notices


@shared_task(name="channels_app.tasks.send_plan_notices_task", ignore_result=True, acks_late=True)
def send_plan_notices_task() -> int:
    # Queued after each commit that writes notices, and by beat (DUSK_NOTIFY_INTERVAL) for retries:
    # rows that fail wait for their next attempt in the database, not in a countdown.
    return send_plan_notices()
