"""The platform edge with real Celery workers (and beat) on PostgreSQL and the real broker."""

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from channels_app.models import Channel, Message, OutboxMessage, OutboxState
from channels_app.tests.support.fakeplatforms import build_tweet
from channels_app.tests.support.helpers import wait_for
from channels_app.tests.support.inbound_helpers import (
    mail,
    platform_channel,
    signed_x_delivery,
    sunset,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
FAST = {"DUSK_OUTBOX_SWEEP_INTERVAL": "0.5"}


def test_posts_accepted_while_the_worker_is_stopped_are_all_answered_once_it_starts(
    live_server, release_pooled_connections, manager, approver, platform_secrets, fake_x, celery_workers, caplog
):
    caplog.set_level(logging.WARNING, logger="httpx")  # 5,000 request lines would only slow the test
    total = 5000
    channel = platform_channel("x", fake_x.base_url)
    sunset(manager=manager, approver=approver, channels=[channel])
    url = f"{live_server.url}/hooks/{channel.pk}/x"
    deliveries = [
        signed_x_delivery([build_tweet(str(10_000_000 + i), f"@brand order {i}?", str(500_000 + i), f"c{i}")])
        for i in range(total)
    ]

    def post(chunk):
        with httpx.Client(timeout=30) as http:
            return [
                http.post(url, content=body, headers={**headers, "content-type": "application/json"}).status_code
                for body, headers in chunk
            ]

    # 16 senders at once, as a platform retrying a backlog would (the server is threaded).
    chunks = [deliveries[i::16] for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        statuses = [status for part in pool.map(post, chunks) for status in part]
    assert statuses == [200] * total
    # Every post was accepted and is waiting; nothing went out without a worker.
    assert Message.objects.filter(direction="in").count() == total
    assert OutboxMessage.objects.filter(state=OutboxState.PENDING).count() == total
    assert fake_x.received == []

    worker = celery_workers("w1", **FAST)
    worker.wait_ready()
    wait_for(
        lambda: OutboxMessage.objects.filter(state=OutboxState.SENT).count() == total,
        timeout=180,
        interval=0.5,
        message=f"all replies to go out\n{worker.log()[-3000:]}",
    )
    assert len(fake_x.tweets) == total
    assert {t["in_reply_to"] for t in fake_x.tweets} == {str(10_000_000 + i) for i in range(total)}
    assert OutboxMessage.objects.exclude(state=OutboxState.SENT).count() == 0
    assert Message.objects.filter(direction="out").count() == total
    assert fake_x.violations == []


def test_beat_polls_youtube_and_the_worker_answers_the_comments(
    manager, approver, platform_secrets, fake_youtube, celery_workers
):
    channel = platform_channel("youtube", fake_youtube.base_url)
    Channel.objects.filter(pk=channel.pk).update(created_at=timezone.now() - timedelta(hours=1))
    sunset(manager=manager, approver=approver, channels=[channel])
    for i in range(3):
        fake_youtube.add_comment(f"c{i}", f"why are comments closed? #{i}", timezone.now(), author_channel_id=f"UCc{i}")
    worker = celery_workers("w1", DUSK_YOUTUBE_POLL_INTERVAL="0.5", **FAST)
    worker.wait_ready()
    wait_for(
        lambda: OutboxMessage.objects.filter(state=OutboxState.SENT).count() == 3,
        timeout=60,
        message=f"the comments to be polled and answered\n{worker.log()[-3000:]}",
    )
    fake_youtube.add_comment("c3", "one more", timezone.now(), author_channel_id="UCc3")
    wait_for(lambda: len(fake_youtube.replies) == 4, timeout=30, message=f"the new comment\n{worker.log()[-3000:]}")
    assert sorted(r["snippet"]["parentId"] for r in fake_youtube.replies) == ["c0", "c1", "c2", "c3"]
    assert Message.objects.filter(direction="in").count() == 4  # polled many times, stored once each


def test_beat_polls_an_imap_mailbox_and_the_worker_answers_each_mail_once(
    manager, approver, platform_secrets, fake_imap, smtp_settings, celery_workers, monkeypatch
):
    monkeypatch.setenv("DUSK_CHANNEL_TEST_IMAP_PASSWORD", fake_imap.password)  # the worker inherits it
    channel = platform_channel("email", fake_imap.url(), api_token_env="DUSK_CHANNEL_TEST_IMAP_PASSWORD")
    Channel.objects.filter(pk=channel.pk).update(created_at=timezone.now() - timedelta(hours=1))
    sunset(manager=manager, approver=approver, channels=[channel])
    smtp_settings.messages.clear()  # the cutover's own notifications
    for i in range(3):
        fake_imap.deliver(mail(f"<m{i}@example.com>", f"Where did support go? #{i}", sender=f"c{i}@example.com"))
    worker = celery_workers("w1", DUSK_IMAP_POLL_INTERVAL="0.5", **FAST)
    worker.wait_ready()
    wait_for(
        lambda: OutboxMessage.objects.filter(state=OutboxState.SENT).count() == 3,
        timeout=60,
        message=f"the mail to be polled and answered\n{worker.log()[-3000:]}",
    )
    fake_imap.deliver(mail("<m3@example.com>", "one more", sender="c3@example.com"))
    wait_for(lambda: len(smtp_settings.messages) == 4, timeout=30, message=f"the new mail\n{worker.log()[-3000:]}")
    assert sorted(m.message["In-Reply-To"] for m in smtp_settings.messages) == [f"<m{i}@example.com>" for i in range(4)]
    assert sorted(r for m in smtp_settings.messages for r in m.rcpt_tos) == [f"c{i}@example.com" for i in range(4)]
    assert Message.objects.filter(direction="in").count() == 4  # polled many times, stored once each
    assert fake_imap.seen() == [] and fake_imap.violations == []
