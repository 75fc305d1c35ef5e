"""Celery tasks of the platform edge: the outbox sender, the YouTube and the IMAP pollers.

A few lines each. Names are pinned to the ones queued messages and the beat schedule use.
"""

import os

from celery import shared_task
from django.db import InterfaceError, OperationalError

from channels_app.core.queue import kick_outbox
from channels_app.platforms.selectors import email_channels_to_poll, youtube_channels_to_poll
from channels_app.platforms.services.outbox import send_due_replies
from channels_app.platforms.services.polling import poll_email_channel, poll_youtube_channel


@shared_task(
    name="channels_app.inbound_tasks.send_due_replies_task",
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
    report = send_due_replies(worker_id=f"{self.request.hostname or 'worker'}:{os.getpid()}")
    if report.more_due:  # the time budget ran out: let other tasks (cutovers) in, then go on
        send_due_replies_task.delay()
    return report.sent


@shared_task(name="channels_app.inbound_tasks.poll_youtube_task", ignore_result=True)
def poll_youtube_task() -> int:
    channel_ids = youtube_channels_to_poll()
    for channel_id in channel_ids:
        poll_youtube_channel_task.delay(channel_id)
    return len(channel_ids)


@shared_task(
    name="channels_app.inbound_tasks.poll_youtube_channel_task",
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    max_retries=5,
)
def poll_youtube_channel_task(channel_id: int) -> int:
    result = poll_youtube_channel(channel_id=channel_id)
    if result.replies_queued:
        kick_outbox()
    return result.stored


@shared_task(name="channels_app.inbound_tasks.poll_email_task", ignore_result=True)
def poll_email_task() -> int:
    channel_ids = email_channels_to_poll()
    for channel_id in channel_ids:
        poll_email_channel_task.delay(channel_id)
    return len(channel_ids)


@shared_task(
    name="channels_app.inbound_tasks.poll_email_channel_task",
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    max_retries=5,
)
def poll_email_channel_task(channel_id: int) -> int:
    result = poll_email_channel(channel_id=channel_id)
    if result.replies_queued:
        kick_outbox()
    return result.stored
