"""Celery tasks of the platform edge: the outbox sender, the YouTube and the IMAP pollers.

Kept apart from tasks.py (which imports them, so the worker registers them) and a few lines each.
"""

import logging
import os
import time

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from . import services
from .querysets_inbound import email_channels_to_poll, youtube_channels_to_poll

log = logging.getLogger(__name__)
_last_kick = 0.0


@shared_task(
    bind=True,
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=None,
)
def send_due_replies_task(self) -> int:
    report = services.send_due_replies(worker_id=f"{self.request.hostname or 'worker'}:{os.getpid()}")
    if report.more_due:  # the time budget ran out: let other tasks (cutovers) in, then go on
        send_due_replies_task.delay()
    return report.sent


@shared_task(ignore_result=True)
def poll_youtube_task() -> int:
    channel_ids = youtube_channels_to_poll()
    for channel_id in channel_ids:
        poll_youtube_channel_task.delay(channel_id)
    return len(channel_ids)


@shared_task(ignore_result=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=2, max_retries=5)
def poll_youtube_channel_task(channel_id: int) -> int:
    result = services.poll_youtube_channel(channel_id=channel_id)
    if result.replies_queued:
        kick_outbox()
    return result.stored


@shared_task(ignore_result=True)
def poll_email_task() -> int:
    channel_ids = email_channels_to_poll()
    for channel_id in channel_ids:
        poll_email_channel_task.delay(channel_id)
    return len(channel_ids)


@shared_task(ignore_result=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=2, max_retries=5)
def poll_email_channel_task(channel_id: int) -> int:
    result = services.poll_email_channel(channel_id=channel_id)
    if result.replies_queued:
        kick_outbox()
    return result.stored


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
        send_due_replies_task.delay()
    except Exception as exc:  # the rows are committed; the sweep will send them
        log.warning("could not queue the outbox sender (beat's sweep will): %s", exc)
