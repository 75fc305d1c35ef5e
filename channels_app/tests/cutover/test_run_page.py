"""The run page says what happened: every failure counted (the first fifty listed, the rest one
click away), live counts that add up to the total at every refresh, and durations that say what
they measure."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app.cutover.selectors import run_steps
from channels_app.cutover.services.engine import claim_due_phases, run_cutover, settle_delivery
from channels_app.models import CutoverRun, OutboxMessage, RunState
from channels_app.platforms.services.outbox import send_due_replies
from channels_app.tests.support.helpers import approved_plan
from channels_app.tests.support.inbound_helpers import customers_with_tweets, platform_channel

pytestmark = pytest.mark.django_db


def _counts(page: str) -> dict[str, int]:
    return {name: int(n) for name, n in re.findall(r'data-count="([a-z-]+)">(\d+)<', page)}


def _delivering_step(page: str) -> str:
    match = re.search(r'data-step="delivering">.*?<span class="step-count">([^<]*)</span>', page, re.S)
    assert match, page
    return match.group(1).strip()


def _delivering_run(manager, approver, fake_x, n: int) -> tuple[int, object]:
    x = platform_channel("x", fake_x.base_url)
    customers_with_tweets(x, n)
    plan = approved_plan(manager=manager, approver=approver, channels=[x])
    [run_id] = claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))
    assert run_cutover(run_id=run_id, worker_id="t") == "delivering"
    return run_id, plan


def test_a_run_with_more_failures_than_it_lists_says_how_many_more_and_links_to_them_all(
    client, manager, approver, platform_secrets, fake_x
):
    run_id, _plan = _delivering_run(manager, approver, fake_x, 60)
    fake_x.refuse_credentials = True  # the token was revoked after the freeze step checked it
    while OutboxMessage.objects.filter(created_by_run_id=run_id, state__in=["pending", "sending"]).exists():
        send_due_replies(worker_id="t")
    assert settle_delivery(run_id=run_id) == RunState.COMPLETED_WITH_FAILURES

    client.force_login(manager)
    page = client.get(reverse("run_detail", args=[run_id])).content.decode()
    assert "60 messages were not delivered" in page
    assert page.count("DSK-D") == 50
    assert "…and 10 more hand-off notices not delivered." in page
    link = reverse("run_failures", args=[run_id])
    assert f'href="{link}"' in page and "See all 60 undelivered messages" in page
    # The reason in words, not the platform's raw answer alone.
    assert "The platform did not accept the credentials (HTTP 401)" in page

    first = client.get(link).content.decode()
    second = client.get(link + "?page=2").content.decode()
    references = re.findall(r"DSK-D\d{7}", first) + re.findall(r"DSK-D\d{7}", second)
    assert sorted(references) == sorted(f"DSK-D{i:07d}" for i in range(60))
    assert "60 hand-off notices" in first and "Page 2 of 2 (60 in all)" in second


def test_the_live_counts_add_up_to_the_total_and_the_delivering_step_agrees_with_them(
    client, manager, approver, platform_secrets, fake_x
):
    run_id, _plan = _delivering_run(manager, approver, fake_x, 6)
    client.force_login(manager)
    htmx = {"HTTP_HX_REQUEST": "true"}
    page = client.get(reverse("run_detail", args=[run_id]), **htmx).content.decode()
    # The two emails to the plan's owners went out in the notifications step.
    assert _counts(page) == {"sent": 2, "in-doubt": 0, "failed": 0, "waiting": 6, "total": 8}
    assert _delivering_step(page) == "2 / 8"

    # Two answers lost (5xx: maybe posted), one refused for good, three sent; nobody settled the
    # run yet, so the figure saved in its steps is still 0: the page must not show it.
    fake_x.fail_next(503, path="/2/tweets", times=2)
    fake_x.fail_next(400, path="/2/tweets", times=1)
    send_due_replies(worker_id="t")
    page = client.get(reverse("run_detail", args=[run_id]), **htmx).content.decode()
    counts = _counts(page)
    assert counts == {"sent": 5, "in-doubt": 2, "failed": 1, "waiting": 0, "total": 8}, counts
    assert counts["sent"] + counts["in-doubt"] + counts["failed"] + counts["waiting"] == counts["total"]
    assert _delivering_step(page) == "6 / 8"
    assert CutoverRun.objects.get(pk=run_id).steps["delivering"]["done"] == 2  # what the page did not read

    # Until it settles, the dashboard lists it among the runs going on, as Delivering.
    dashboard = client.get(reverse("home")).content.decode()
    running = re.search(r'aria-labelledby="runs-h">(.*?)</ul>', dashboard, re.S).group(1)
    assert "Hard close" in running and "Delivering" in running, running


def test_the_durations_say_what_they_measure(client, manager, approver, platform_secrets, fake_x):
    run_id, _plan = _delivering_run(manager, approver, fake_x, 3)
    client.force_login(manager)
    page = client.get(reverse("run_detail", args=[run_id])).content.decode()
    assert "Database steps took" in page and "Delivery so far" in page and "Total so far" in page
    # While delivering, the Delivering step's time counts up like "Delivery so far".
    run = CutoverRun.objects.get(pk=run_id)
    later = timezone.now() + timedelta(seconds=30)
    delivering = next(s for s in run_steps(run, now=later) if s.key == "delivering")
    assert delivering.seconds >= 30

    send_due_replies(worker_id="t")
    run = CutoverRun.objects.get(pk=run_id)
    settle_at = run.finished_at + timedelta(seconds=42)
    assert settle_delivery(run_id=run_id, now=settle_at) == RunState.COMPLETED
    run.refresh_from_db()
    database = (run.finished_at - run.started_at).total_seconds()
    page = client.get(reverse("run_detail", args=[run_id])).content.decode()
    assert "Delivery so far" not in page
    assert re.search(r'Delivery took</dt><dd data-time="delivery">42\.0 s<', page)
    assert f'data-time="database">{database:.1f} s<' in page
    assert f'data-time="total">{database + 42:.1f} s<' in page
    assert "Total, until the last message was sent or failed" in page
