"""One definition per number: every count shown about a channel or a plan on the channel,
watchdog, plan, run and rollback pages equals the database count, on a plan whose earlier
phases were skipped, whose hard close had delivery failures, and which was then rolled back."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app.cutover.services.engine import claim_due_phases, run_cutover, settle_delivery
from channels_app.cutover.services.rollback import rollback_run
from channels_app.models import CutoverRun, Message, Notification, OutboxMessage, Phase, RunState
from channels_app.plans.services.plans import AutoReplyInput
from channels_app.platforms.services.outbox import send_due_replies
from channels_app.tests.support.helpers import HARD_CLOSE_REPLY, hard_close_plan, submit_and_approve, utc_phase
from channels_app.tests.support.inbound_helpers import customers_with_tweets, platform_channel

pytestmark = pytest.mark.django_db


def _number(html: str, pattern: str) -> int:
    found = re.search(pattern, html, re.S)
    assert found, f"{pattern!r} not on the page"
    return int(found.group(1))


def test_every_number_on_every_page_equals_the_database_count(
    client, manager, approver, smtp_settings, platform_secrets, fake_x
):
    x = platform_channel("x", fake_x.base_url)
    customers_with_tweets(x, 8)
    later = timezone.now() + timedelta(days=3)
    plan = hard_close_plan(
        manager=manager,
        channels=[x],
        phases=[utc_phase(k, later + timedelta(hours=i)) for i, k in enumerate(["notice", "soft_close", "hard_close"])],
        auto_replies=[
            AutoReplyInput("notice", "en", "Until {date} we are here; then call {phone}."),
            AutoReplyInput("soft_close", "en", "No new cases here: call {phone}."),
            AutoReplyInput("hard_close", "en", HARD_CLOSE_REPLY),
        ],
    )
    submit_and_approve(plan, manager=manager, approver=approver)
    hard_at = Phase.objects.get(plan=plan, kind="hard_close").instant
    [run_id] = claim_due_phases(now=hard_at + timedelta(seconds=1))  # notice and soft close skipped
    assert CutoverRun.objects.filter(plan=plan, state=RunState.SKIPPED).count() == 2
    run_cutover(run_id=run_id, worker_id="t")
    fake_x.fail_next(401, body={"title": "Unauthorized"}, path="/2/tweets", times=3)
    send_due_replies(worker_id="t")
    assert settle_delivery(run_id=run_id) == RunState.COMPLETED_WITH_FAILURES
    now = timezone.now()
    Message.objects.bulk_create(
        [
            Message(
                channel=x,
                conversation=OutboxMessage.objects.filter(created_by_run_id=run_id).first().conversation,
                platform_message_id=f"late{i}",
                direction="in",
                text="hello?",
                created_at=now,
            )
            for i in range(4)
        ]
    )
    notices = OutboxMessage.objects.filter(created_by_run_id=run_id, kind="handoff")
    sent, failed = notices.filter(state="sent").count(), notices.filter(state="failed").count()
    assert (sent, failed) == (5, 3)
    inbound_24h = Message.objects.filter(channel=x, direction="in", received_at__gte=now - timedelta(hours=23)).count()
    failed_on_channel = OutboxMessage.objects.filter(channel=x, state="failed").count()
    told = notices.filter(state="sent").values("conversation__customer_id").distinct().count()

    client.force_login(manager)
    run_page = client.get(reverse("run_detail", args=[run_id])).content.decode()
    # The run's delivery counts its hand-off notices and its emails.
    emails = Notification.objects.filter(run_id=run_id).exclude(kind="delivery_failures")
    emails_sent = emails.filter(state="sent").count()
    assert _number(run_page, r'data-count="sent">(\d+)<') == sent + emails_sent
    assert _number(run_page, r'data-count="failed">(\d+)<') == failed + emails.filter(state="failed").count()
    assert _number(run_page, r"Hand-off notices delivered</dt><dd>(\d+)<") == sent
    plan_page = client.get(reverse("plan_detail", args=[plan.pk])).content.decode()
    assert _number(plan_page, r'data-count="handoffs-sent">(\d+)<') == sent
    assert _number(plan_page, r'data-count="handoffs-failed">(\d+)<') == failed
    assert _number(plan_page, r'data-count="emails-sent">(\d+)<') == emails_sent == 2  # author and approver
    assert "Emails to send" not in plan_page
    channel_page = client.get(reverse("channel_detail", args=[x.pk])).content.decode()
    watchdog = client.get(reverse("channel_watchdog", args=[x.pk])).content.decode()
    assert _number(channel_page, r"<strong>(\d+)</strong> in 24 hours") == inbound_24h
    assert _number(watchdog, r"<strong>(\d+)</strong><span>messages in the last 24 hours") == inbound_24h
    assert _number(watchdog, r"<strong>(\d+)</strong><span>replies failed") == failed_on_channel == failed
    assert _number(watchdog, r"\(0 of (\d+) customers told\)") == told

    rollback_run(actor=manager, run=run_id, reason="Tokens revoked")
    rollback_page = client.get(reverse("run_rollback", args=[run_id])).content.decode()
    assert _number(rollback_page, r"(\d+) hand-off notices had already reached their customers") == sent
    assert _number(rollback_page, r"(\d+) hand-off notices had failed") == failed
