"""Celery tasks of the hand-off: sending contact requests to their destinations. Names are pinned."""

from celery import shared_task

from channels_app.handoff.services.delivery import send_due_handoffs


@shared_task(name="channels_app.tasks.send_handoffs_task", ignore_result=True, acks_late=True)
def send_handoffs_task() -> int:
    # Queued after each commit that writes deliveries, and by beat (DUSK_HANDOFF_INTERVAL) for
    # retries: a delivery waits for its next attempt in the database, not in a countdown.
    return send_due_handoffs()
