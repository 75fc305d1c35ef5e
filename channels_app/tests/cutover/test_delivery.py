"""Delivery is part of the run: "Delivering" until every hand-off notice and email is out,
"Completed" only when all were delivered, "Completed with failures" otherwise, the owners
emailed once, and a retry from the run page that sends them again (never "skipped")."""

from datetime import timedelta

import pytest
from django.urls import reverse

from channels_app.cutover.services.delivery import send_owner_notices
from channels_app.cutover.services.engine import claim_due_phases, run_cutover, settle_delivery
from channels_app.models import CutoverRun, Notification, OutboxMessage, RunState
from channels_app.plans.selectors import plan_delivery_counts, run_delivery_counts
from channels_app.plans.services.notices import send_plan_notices
from channels_app.platforms.services.outbox import send_due_replies
from channels_app.tests.support.helpers import approved_plan
from channels_app.tests.support.inbound_helpers import customers_with_tweets, platform_channel

pytestmark = pytest.mark.django_db


def test_a_run_whose_notices_fail_ends_completed_with_failures_and_a_retry_delivers_them(
    client, manager, approver, smtp_settings, platform_secrets, fake_x, notify_webhook
):
    x = platform_channel("x", fake_x.base_url)
    customers_with_tweets(x, 5)
    plan = approved_plan(manager=manager, approver=approver, channels=[x])
    [run_id] = claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))

    assert run_cutover(run_id=run_id, worker_id="t") == "delivering"
    client.force_login(manager)
    page = client.get(reverse("run_detail", args=[run_id])).content.decode()
    assert "Delivering" in page and 'data-count="waiting">5<' in page

    # The platform refuses the token (401) for every notice.
    fake_x.fail_next(401, body={"title": "Unauthorized"}, path="/2/tweets", times=5)
    report = send_due_replies(worker_id="t")
    assert report.failed == 5, (report, list(OutboxMessage.objects.values_list("state", "last_error")))
    assert settle_delivery(run_id=run_id) == RunState.COMPLETED_WITH_FAILURES
    counts = run_delivery_counts(run_id)
    assert (counts.handoffs_sent, counts.handoffs_failed, counts.unsettled) == (0, 5, 0)
    # The author and the approver are emailed once, however often delivery is settled.
    assert send_owner_notices(run_id=run_id) == 2
    assert settle_delivery(run_id=run_id) is None
    assert send_owner_notices(run_id=run_id) == 0
    owners = [m for m in smtp_settings.messages if "were not delivered" in m.message["Subject"]]
    assert sorted(m.message["To"] for m in owners) == sorted([manager.email, approver.email])
    # And once to the outgoing webhook, in words.
    send_plan_notices()
    failures = [p for p in notify_webhook.posts() if p["event"] == "delivery_failures"]
    assert [(p["failed"], p["run"]["id"]) for p in failures] == [(5, run_id)]
    assert failures[0]["text"] == f"5 messages of the Hard close phase of “{plan.title}” were not delivered."

    page = client.get(reverse("run_detail", args=[run_id])).content.decode()
    assert "Completed with failures" in page
    assert 'data-count="failed">5<' in page and "Retry the failed messages" in page
    for person in (manager, approver):  # "Needs my action" on the dashboard of both owners
        client.force_login(person)
        dashboard = client.get(reverse("home")).content.decode()
        assert "Runs with undelivered messages" in dashboard and "5 messages not delivered" in dashboard
    plan_page = client.get(reverse("plan_detail", args=[plan.pk])).content.decode()
    assert 'data-count="handoffs-failed">5<' in plan_page and "were not delivered" in plan_page

    # The token is fixed; Retry sends every notice again, none is skipped.
    client.force_login(manager)
    response = client.post(reverse("run_retry_deliveries", args=[run_id]))
    assert response.status_code == 302
    assert CutoverRun.objects.get(pk=run_id).state == RunState.DELIVERING
    send_due_replies(worker_id="t")
    assert not OutboxMessage.objects.filter(created_by_run_id=run_id, state="skipped").exists()
    assert settle_delivery(run_id=run_id) == RunState.COMPLETED
    assert len(fake_x.tweets) == 5
    assert run_delivery_counts(run_id).handoffs_sent == plan_delivery_counts(plan.pk).handoffs_sent == 5
    assert Notification.objects.filter(run_id=run_id, kind="delivery_failures").count() == 2
    assert all(
        n.body.rstrip().endswith(f"/runs/{run_id}/")
        for n in Notification.objects.filter(run_id=run_id, kind="delivery_failures")
    )
    assert send_owner_notices(run_id=run_id) == 0


def test_retry_is_refused_for_a_run_that_delivered_everything_and_for_viewers(
    client, manager, approver, viewer, smtp_settings, platform_secrets, fake_x
):
    x = platform_channel("x", fake_x.base_url)
    customers_with_tweets(x, 2)
    plan = approved_plan(manager=manager, approver=approver, channels=[x])
    [run_id] = claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))
    run_cutover(run_id=run_id, worker_id="t")
    send_due_replies(worker_id="t")
    assert settle_delivery(run_id=run_id) == RunState.COMPLETED
    client.force_login(viewer)
    assert client.post(reverse("run_retry_deliveries", args=[run_id])).status_code == 403
    client.force_login(manager)
    client.post(reverse("run_retry_deliveries", args=[run_id]))
    assert CutoverRun.objects.get(pk=run_id).state == RunState.COMPLETED
