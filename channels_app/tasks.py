"""Celery tasks: a few lines each, ids in, a service call, ids out."""

import os

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import services


@shared_task(ignore_result=True)
def sweep_due_phases_task() -> int:
    run_ids = services.claim_due_phases()
    for run_id in run_ids:
        run_cutover_task.delay(run_id)
    return len(run_ids)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=None,
)
def run_cutover_task(self, run_id: int) -> str:
    worker_id = f"{self.request.hostname or 'worker'}:{os.getpid()}"
    return services.run_cutover(run_id=run_id, worker_id=worker_id)


@shared_task(ignore_result=True)
def reap_stuck_runs_task() -> int:
    run_ids = services.reap_stuck_runs()
    for run_id in run_ids:
        run_cutover_task.delay(run_id)
    return len(run_ids)


@shared_task(ignore_result=True)
def send_reminders_task() -> int:
    services.queue_due_reminders()
    return services.send_pending_reminders()


@shared_task(ignore_result=True)
def watchdog_task() -> int:
    return len(services.check_retired_channels())


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def send_agent_notices_task(plan_id: int | None = None) -> int:
    """Email agents their destination; queued by notify_agents and swept by beat."""
    return services.send_agent_notices(plan_id=plan_id)


# The platform edge's tasks live in their own module; importing them here registers them.
from .inbound_tasks import (  # noqa: E402, F401
    poll_email_channel_task,
    poll_email_task,
    poll_youtube_channel_task,
    poll_youtube_task,
    send_due_replies_task,
)
