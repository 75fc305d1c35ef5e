"""Post-cutover watchdog: tracked links, metrics, alerts and the chart page."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from channels_app.cutover.selectors import watchdog_metrics
from channels_app.cutover.services.engine import claim_due_phases, run_cutover
from channels_app.cutover.services.watchdog import check_retired_channels
from channels_app.models import (
    CutoverRun,
    LandingVisit,
    Message,
    OutboxMessage,
    OutboxState,
    RedirectClick,
    WatchdogAlert,
)
from channels_app.plans.selectors import placeholder_values
from channels_app.tests.support.factories import ChannelFactory, ConversationFactory
from channels_app.tests.support.helpers import BROWSER, approved_plan

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_visit_bound():
    """The landing page's per-address bound is counted in the cache: each test starts afresh."""
    cache.clear()


@pytest.fixture
def retired(manager, approver, smtp_settings, settings):
    settings.DUSK_PUBLIC_URL = "https://dusk.example.com"
    x = ChannelFactory(kind="x", name="Brand on X")
    ConversationFactory.create_batch(4, channel=x)
    plan = approved_plan(manager=manager, approver=approver, channels=[x])
    run_ids = claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))
    run_cutover(run_id=run_ids[0], worker_id="t")
    run = CutoverRun.objects.get(pk=run_ids[0])
    # Pretend the run finished two hours ago and its notices went out.
    CutoverRun.objects.filter(pk=run.pk).update(finished_at=timezone.now() - timedelta(hours=2))
    OutboxMessage.objects.filter(created_by_run=run).update(
        state=OutboxState.SENT, sent_at=timezone.now(), platform_response_id="1850000000000000003"
    )
    return plan, x


def test_replies_carry_a_tracked_link_to_a_landing_page_that_counts_people(client, retired):
    plan, x = retired
    conversation = x.conversations.first()
    values = placeholder_values(plan, locale="en", reference=conversation.reference)
    assert values["redirect_url"] == f"https://dusk.example.com/r/{conversation.reference}"
    response = client.get(reverse("tracked_redirect", args=[conversation.reference]), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 200
    assert conversation.reference in response.content.decode()
    assert LandingVisit.objects.get().kind == "human"
    chosen = client.get(reverse("landing_choose", args=[conversation.reference, 1]), HTTP_USER_AGENT=BROWSER)
    assert chosen.status_code == 302
    assert chosen["Location"] == f"https://help.example.com/contact?ref={conversation.reference}"
    assert RedirectClick.objects.get().conversation == conversation
    assert client.get(reverse("tracked_redirect", args=["DSK-NOPE0000"])).status_code == 404


def test_metrics_count_inbound_clicks_and_failures(client, retired):
    plan, x = retired
    now = timezone.now()
    failed = OutboxMessage.objects.order_by("id").last()
    OutboxMessage.objects.filter(pk=failed.pk).update(state=OutboxState.FAILED)
    conv = OutboxMessage.objects.filter(state=OutboxState.SENT).order_by("id").first().conversation
    Message.objects.bulk_create(
        [
            Message(
                channel=x,
                conversation=conv,
                platform_message_id=f"late{i}",
                direction="in",
                text="hello?",
                created_at=now - timedelta(minutes=10 * i),
            )
            for i in range(5)
        ]
    )
    for _ in range(2):  # the same customer twice counts once
        assert (
            client.get(reverse("tracked_redirect", args=[conv.reference]), HTTP_USER_AGENT=BROWSER).status_code == 200
        )
    # A link preview of another customer's link is not a customer.
    other = OutboxMessage.objects.filter(state=OutboxState.SENT).exclude(conversation=conv).first().conversation
    client.get(reverse("tracked_redirect", args=[other.reference]), HTTP_USER_AGENT="Twitterbot/1.0")
    assert list(LandingVisit.objects.filter(conversation=conv).values_list("kind", flat=True)) == ["repeat", "human"]
    metrics = watchdog_metrics(x)
    assert metrics.inbound_last_24h == 5
    assert metrics.customers_told == 3
    assert metrics.customers_redirected == 1
    assert metrics.failed_replies == 1
    assert sum(n for _h, n in metrics.hourly) == 5


def test_the_redirect_share_counts_only_people_as_the_funnel_does(retired, settings):
    """A link preview, a HEAD request and a repeat are recorded but are not customers who followed
    the redirect: the watchdog's share and the funnel's "landed" count the same people."""
    from channels_app.handoff.selectors import plan_funnel

    plan, x = retired
    now = timezone.now()
    first, second, third, fourth = x.conversations.order_by("id")
    LandingVisit.objects.create(conversation=first, kind="human", visitor="a", at=now)
    LandingVisit.objects.create(conversation=second, kind="crawler", visitor="bot", at=now)
    LandingVisit.objects.create(conversation=third, kind="head", visitor="h", at=now)
    LandingVisit.objects.create(conversation=fourth, kind="repeat", visitor="r", at=now)
    metrics = watchdog_metrics(x)
    assert (metrics.customers_told, metrics.customers_redirected) == (4, 1)
    assert metrics.redirect_share == 0.25
    landed = next(step for step in plan_funnel(plan.pk) if step.key == "landed")
    assert landed.count == metrics.customers_redirected
    settings.DUSK_WATCHDOG_MIN_SAMPLE = 1
    settings.DUSK_WATCHDOG_MIN_REDIRECT_SHARE = 0.5
    alert = next(a for a in check_retired_channels() if a.kind == "redirect_share")
    assert "25%" in alert.message


def test_alerts_fire_once_a_day_and_email_the_plan_owners(retired, settings, smtp_settings, manager, approver):
    plan, x = retired
    settings.DUSK_WATCHDOG_MAX_INBOUND_PER_DAY = 2
    settings.DUSK_WATCHDOG_MIN_SAMPLE = 1
    settings.DUSK_WATCHDOG_MIN_REDIRECT_SHARE = 0.5
    conv = x.conversations.first()
    Message.objects.bulk_create(
        [
            Message(
                channel=x,
                conversation=conv,
                platform_message_id=f"m{i}",
                direction="in",
                text="hi",
                created_at=timezone.now(),
            )
            for i in range(3)
        ]
    )
    alerts = check_retired_channels()
    assert {a.kind for a in alerts} == {"inbound", "redirect_share"}
    assert "3 messages in the last 24 hours" in next(a.message for a in alerts if a.kind == "inbound")
    assert check_retired_channels() == []  # once a day
    assert WatchdogAlert.objects.count() == 2
    alert_mails = [m for m in smtp_settings.messages if m.message["Subject"].startswith("[Dusk] Watchdog")]
    assert len(alert_mails) == 2
    assert {r for m in alert_mails for r in m.rcpt_tos} == {manager.email, approver.email}


def test_messages_from_before_the_retirement_raise_no_alert(retired, settings, smtp_settings):
    # Traffic of the morning before a retirement two hours ago is in the page's "last 24 hours",
    # but did not arrive on a retired channel: no "after retirement" alert.
    plan, x = retired
    settings.DUSK_WATCHDOG_MAX_INBOUND_PER_DAY = 2
    conv = x.conversations.first()
    earlier = [
        Message(
            channel=x,
            conversation=conv,
            platform_message_id=f"b{i}",
            direction="in",
            text="hi",
            created_at=timezone.now() - timedelta(hours=5),
        )
        for i in range(5)
    ]
    Message.objects.bulk_create(earlier)
    Message.objects.filter(platform_message_id__startswith="b").update(received_at=timezone.now() - timedelta(hours=5))
    assert watchdog_metrics(x).inbound_last_24h == 5
    assert not [a for a in check_retired_channels() if a.kind == "inbound"]


@pytest.mark.parametrize("messages", [10, 1000])
def test_watchdog_page_shows_chart_and_alerts(client, retired, viewer, outsider, django_assert_num_queries, messages):
    plan, x = retired
    conv = x.conversations.first()
    Message.objects.bulk_create(
        [
            Message(
                channel=x,
                conversation=conv,
                platform_message_id=f"v{i}",
                direction="in",
                text="hi",
                created_at=timezone.now() - timedelta(seconds=i),
            )
            for i in range(messages)
        ]
    )
    client.force_login(viewer)
    client.get(reverse("profile"))  # first request of the session stores the person's time zone in it
    # session, user, groups; channel; retirement run; inbound in 24 h (the channel page's
    # selector); inbound since; customers told; customers redirected; failed replies;
    # hourly series; alerts.
    with django_assert_num_queries(12):
        body = client.get(reverse("channel_watchdog", args=[x.pk])).content.decode()
    assert "<svg" in body and "Inbound messages per hour" in body
    assert f'href="{reverse("channel_detail", args=[x.pk])}"' in body  # the way back
    # The retired channel's page leads here.
    detail = client.get(reverse("channel_detail", args=[x.pk])).content.decode()
    assert f'href="{reverse("channel_watchdog", args=[x.pk])}"' in detail
    client.force_login(outsider)
    assert client.get(reverse("channel_watchdog", args=[x.pk])).status_code == 403
