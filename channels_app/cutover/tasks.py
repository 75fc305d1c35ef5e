"""Celery tasks of the cutover: the beat sweep, the run itself, the reaper, reminders, the watchdog.

A few lines each: ids in, a service call, ids out. Names are pinned to the ones queued messages
and the beat schedule use."""

import os

from celery import shared_task
from django.db import InterfaceError, OperationalError

from channels_app.cutover.services.delivery import send_owner_notices
from channels_app.cutover.services.engine import (
    claim_due_phases,
    publish_run_changes,
    reap_stuck_runs,
    record_sweep_heartbeat,
    run_cutover,
    send_run_emails,
    settle_delivering_runs,
)
from channels_app.cutover.services.reminders import queue_due_reminders, send_pending_reminders
from channels_app.cutover.services.watchdog import check_retired_channels


@shared_task(name="channels_app.tasks.sweep_due_phases_task", ignore_result=True)
def sweep_due_phases_task() -> int:
    settle_delivering_runs()
    run_ids = claim_due_phases()
    for run_id in run_ids:
        run_cutover_task.delay(run_id)
    record_sweep_heartbeat()
    return len(run_ids)


@shared_task(
    name="channels_app.tasks.run_cutover_task",
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
    return run_cutover(run_id=run_id, worker_id=worker_id)


@shared_task(
    name="channels_app.tasks.publish_run_changes_task", ignore_result=True, acks_late=True, reject_on_worker_lost=True
)
def publish_run_changes_task(run_id: int) -> str | None:
    return publish_run_changes(run_id=run_id)


@shared_task(name="channels_app.tasks.reap_stuck_runs_task", ignore_result=True)
def reap_stuck_runs_task() -> int:
    run_ids = reap_stuck_runs()
    for run_id in run_ids:
        run_cutover_task.delay(run_id)
    return len(run_ids)


@shared_task(name="channels_app.tasks.send_reminders_task", ignore_result=True)
def send_reminders_task() -> int:
    queue_due_reminders()
    return send_pending_reminders()


@shared_task(name="channels_app.tasks.watchdog_task", ignore_result=True)
def watchdog_task() -> int:
    return len(check_retired_channels())


@shared_task(
    name="channels_app.tasks.send_owner_notices_task",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=5,
    max_retries=10,
)
def send_owner_notices_task(run_id: int) -> int:
    return send_owner_notices(run_id=run_id)


@shared_task(name="channels_app.tasks.send_run_emails_task", ignore_result=True, acks_late=True)
def send_run_emails_task(run_id: int) -> int:
    return send_run_emails(run_id=run_id)
