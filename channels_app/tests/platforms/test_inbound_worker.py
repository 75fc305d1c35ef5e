"""The platform edge with real Celery workers (and beat) on PostgreSQL and the real broker."""

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from channels_app.models import Channel, Message, OutboxMessage, OutboxState
from channels_app.platforms.adapters.base import sha256_b64_signature
from channels_app.tests.support.fakeplatforms import build_direct_message, build_tweet
from channels_app.tests.support.helpers import mail_without_plan_notices, wait_for
from channels_app.tests.support.inbound_helpers import (
    BRAND_ID,
    WEBHOOK_SECRET,
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
    wait_for(
        lambda: len(mail_without_plan_notices(smtp_settings)) == 4,
        timeout=30,
        message=f"the new mail\n{worker.log()[-3000:]}",
    )
    replies = mail_without_plan_notices(smtp_settings)
    assert sorted(m.message["In-Reply-To"] for m in replies) == [f"<m{i}@example.com>" for i in range(4)]
    assert sorted(r for m in replies for r in m.rcpt_tos) == [f"c{i}@example.com" for i in range(4)]
    assert Message.objects.filter(direction="in").count() == 4  # polled many times, stored once each
    assert fake_imap.seen() == [] and fake_imap.violations == []


def test_a_dm_auto_reply_goes_out_exactly_once_when_the_worker_is_killed_mid_send(
    client, manager, approver, platform_secrets, fake_x, celery_workers
):
    """A customer's DM after the sunset; the worker is SIGKILLed while X holds its answer to the
    DM (X has created it). The next worker takes the row over after the lease, finds the DM on
    X (GET /2/dm_conversations/with/:id/dm_events) and records it instead of sending again."""
    channel = platform_channel("x", fake_x.base_url)
    sunset(manager=manager, approver=approver, channels=[channel])
    timing = {
        **FAST,
        "DUSK_OUTBOX_HTTP_TIMEOUT": "4",
        "DUSK_OUTBOX_LOOKUP_MARGIN": "1",
        "DUSK_OUTBOX_RATE_HORIZON": "1",
        "DUSK_OUTBOX_STUCK_AFTER": "15",
    }
    fake_x.latency = 30.0  # X creates the DM at once, then holds the answer
    first = celery_workers("first", **timing)
    first.wait_ready()
    body = json.dumps(build_direct_message("954491830116160001", "Where is my parcel?", "3001969357", BRAND_ID))
    headers = {"x-twitter-webhooks-signature": sha256_b64_signature(WEBHOOK_SECRET, body.encode())}
    response = client.post(f"/hooks/{channel.pk}/x", body, content_type="application/json", headers=headers)
    assert response.json()["replies_queued"] == 1

    wait_for(lambda: fake_x.dms, timeout=60, message=f"the DM to reach X\n{first.log()[-3000:]}")
    first.kill()
    row = OutboxMessage.objects.get()
    assert row.state == OutboxState.SENDING  # killed mid-send: nothing recorded

    fake_x.latency = 0.0
    second = celery_workers("second", **timing)
    row = wait_for(
        lambda: OutboxMessage.objects.filter(state=OutboxState.SENT).first(),
        timeout=90,
        interval=0.5,
        message=f"the second worker to settle the DM\n{second.log()[-3000:]}",
    )
    (dm,) = fake_x.dms  # exactly once
    assert dm["participant"] == "3001969357"
    assert row.platform_response_id == dm["id"]
    assert row.last_error == "sent by an earlier attempt (found on the platform)"
    assert row.in_doubt_since is not None
    assert Message.objects.filter(direction="out").count() == 1
    assert fake_x.tweets == []
    lookups = [r for r in fake_x.received if r.method == "GET" and r.path.endswith("/dm_events")]
    assert lookups  # the second worker looked before sending
    assert fake_x.violations == []
