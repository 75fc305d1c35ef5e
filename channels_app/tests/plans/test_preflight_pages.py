"""The preflight on the pages: a forced submission during a connection failure is refused with the
reason and changes nothing; page views reuse a channel's connection result for a minute (keyed
by its credentials), while submission, approval and the freeze step always ask the platform."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.urls import reverse

from channels_app.cutover.services.engine import claim_due_phases, run_cutover
from channels_app.models import AuditEvent, PlanState, SunsetPlan
from channels_app.tests.support.fakeplatforms import FakeX, serve
from channels_app.tests.support.helpers import hard_close_plan
from channels_app.tests.support.inbound_helpers import TOKEN_ENV, platform_channel

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    yield from serve(FakeX())


def _calls(fake: FakeX) -> int:
    """How many read-only connection tests (GET /2/users/me) the platform received."""
    return len(fake.identity_checks)


def test_a_forced_submit_while_the_platform_refuses_the_token_is_422_with_the_reason_and_changes_nothing(
    client, manager, platform_secrets, fake_x
):
    x = platform_channel("x", fake_x.base_url, name="Brand on X")
    plan = hard_close_plan(manager=manager, channels=[x])
    client.force_login(manager)
    page = client.get(reverse("plan_detail", args=[plan.pk])).content.decode()
    assert "Every check passes" in page  # and the result is kept for the next page views

    fake_x.refuse_credentials = True  # the token is revoked; the button was drawn enabled
    events = AuditEvent.objects.count()
    response = client.post(reverse("plan_submit", args=[plan.pk]))
    assert response.status_code == 422
    html = response.content.decode()
    assert "Not submitted; nothing was changed:" in html
    assert "Brand on X: the platform refused the connection test: HTTP 401" in html
    # The preflight box shows the live result that refused it, not the page's kept one.
    assert "Every check passes" not in html and 'class="badge bad"' in html
    assert "disabled" in html  # and the button is drawn disabled now
    plan.refresh_from_db()
    assert plan.state == PlanState.DRAFT and plan.submitted_at is None
    assert AuditEvent.objects.count() == events

    # htmx (the button's own request) gets the same 422, which base.html lets it swap in.
    response = client.post(reverse("plan_submit", args=[plan.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert SunsetPlan.objects.get(pk=plan.pk).state == PlanState.DRAFT


def test_page_views_reuse_a_channels_connection_result_until_its_credentials_change(
    client, manager, approver, platform_secrets, fake_x, monkeypatch
):
    x = platform_channel("x", fake_x.base_url)
    plan = hard_close_plan(manager=manager, channels=[x])
    client.force_login(manager)
    page = reverse("plan_detail", args=[plan.pk])

    client.get(page)
    client.get(page)
    client.get(page)
    assert _calls(fake_x) == 1

    # The token is rotated (on the platform and in the environment): a new fingerprint, so the
    # next view asks the platform again, then keeps that answer.
    fake_x.bearer_token = "a-rotated-token"
    monkeypatch.setenv(TOKEN_ENV["x"], "a-rotated-token")
    assert "Every check passes" in client.get(page).content.decode()
    assert _calls(fake_x) == 2
    client.get(page)
    assert _calls(fake_x) == 2

    # The channel is pointed at another account: the kept result does not apply to it.
    x.platform_account_id = "999"
    x.save()
    html = client.get(page).content.decode()
    assert _calls(fake_x) == 3
    assert "not account 999" in html


def test_submit_approve_and_the_freeze_step_always_ask_the_platform(
    client, manager, approver, platform_secrets, fake_x
):
    x = platform_channel("x", fake_x.base_url)
    plan = hard_close_plan(manager=manager, channels=[x])
    client.force_login(manager)
    client.get(reverse("plan_detail", args=[plan.pk]))
    assert _calls(fake_x) == 1

    assert client.post(reverse("plan_submit", args=[plan.pk])).status_code in (302, 303)
    assert _calls(fake_x) == 2
    client.force_login(approver)
    client.get(reverse("approval_review", args=[plan.pk]))
    assert _calls(fake_x) == 2  # the review page reuses the submission's fresh result
    response = client.post(reverse("plan_approve", args=[plan.pk]), {"comment": ""})
    assert response.status_code in (302, 303), response.content.decode()[:2000]
    assert _calls(fake_x) == 3

    [run_id] = claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))
    run_cutover(run_id=run_id, worker_id="t")
    assert _calls(fake_x) == 4
