"""The preflight, from outside: submission, approval, the freeze step, the pages, the API and the
channel page's connection test, against the platform fakes (the session's sandbox)."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from channels_app.cutover.services.engine import claim_due_phases, run_cutover
from channels_app.models import AuditEvent, Channel, CutoverRun, PlanState, RunState
from channels_app.plans.services.plans import AutoReplyInput, RedirectInput, approve_plan, submit_plan
from channels_app.plans.services.preflight import check_connection, run_preflight
from channels_app.tests.support.factories import AgentFactory, AssignmentFactory, ChannelFactory, TeamFactory
from channels_app.tests.support.helpers import approved_plan, hard_close_plan, move_everyone, utc_phase


@pytest.fixture
def revoked(platform_sandbox):
    """Make a sandbox platform answer 401 to everything (a revoked token) for one test."""
    refused: list[str] = []

    def revoke(kind: str) -> None:
        platform_sandbox.refuse(kind)
        refused.append(kind)

    yield revoke
    for kind in refused:
        platform_sandbox.refuse(kind, False)


@pytest.mark.parametrize(
    ("kind", "identity"),
    [("x", "@brand_support"), ("youtube", "Brand"), ("discourse", "dusk-bot"), ("messenger", "Brand page")],
)
def test_a_connection_test_asks_each_platform_who_the_credentials_are(db, platform_sandbox, kind, identity):
    channel = ChannelFactory(kind=kind, platform_account_id="dusk-bot" if kind == "discourse" else "")
    before = len(platform_sandbox.fakes[kind].identity_checks)
    check = check_connection(channel)
    assert (check.ok, check.identity, check.problem) == (True, identity, "")
    fake = platform_sandbox.fakes[kind]
    assert len(fake.identity_checks) == before + 1  # one real read-only call
    assert fake.identity_checks[-1].method == "GET"


def test_a_channel_that_names_no_token_cannot_be_submitted(manager):
    channel = ChannelFactory(kind="messenger", name="Lumen Messenger", api_token_env="")
    plan = hard_close_plan(manager=manager, channels=[channel])
    with pytest.raises(ValidationError) as refused:
        submit_plan(actor=manager, plan=plan)
    assert refused.value.message_dict["channels"] == [
        "Lumen Messenger: no API token variable is named; set one (DUSK_CHANNEL_…) on the channel."
    ]
    plan.refresh_from_db()
    assert plan.state == PlanState.DRAFT


def test_an_unset_token_variable_is_named_in_the_refusal(manager, monkeypatch):
    monkeypatch.delenv("DUSK_CHANNEL_PREFLIGHT_UNSET", raising=False)
    channel = ChannelFactory(kind="x", name="Brand X", api_token_env="DUSK_CHANNEL_PREFLIGHT_UNSET")
    plan = hard_close_plan(manager=manager, channels=[channel])
    with pytest.raises(ValidationError) as refused:
        submit_plan(actor=manager, plan=plan)
    assert refused.value.message_dict["channels"] == [
        "Brand X: the environment variable DUSK_CHANNEL_PREFLIGHT_UNSET is not set."
    ]


def test_a_platform_refusing_the_token_blocks_approval(manager, approver, revoked):
    channel = ChannelFactory(kind="x", name="Brand X")
    plan = hard_close_plan(manager=manager, channels=[channel])
    submit_plan(actor=manager, plan=plan)
    revoked("x")
    with pytest.raises(ValidationError) as refused:
        approve_plan(actor=approver, plan=plan)
    (message,) = refused.value.message_dict["channels"]
    assert message.startswith("Brand X: the platform refused the connection test: HTTP 401")
    plan.refresh_from_db()
    assert plan.state == PlanState.PENDING_APPROVAL


def test_a_reply_that_would_render_an_empty_placeholder_blocks_submission(manager):
    plan = hard_close_plan(
        manager=manager,
        channels=[ChannelFactory()],
        redirects=[RedirectInput("url", "Contact form", "https://help.example.com/contact")],
        auto_replies=[
            AutoReplyInput("hard_close", "en", "Support moved: {redirect_url}"),
            AutoReplyInput("hard_close", "fr", "Le support a déménagé : appelez le {phone}."),
        ],
    )
    with pytest.raises(ValidationError) as refused:
        submit_plan(actor=manager, plan=plan)
    assert refused.value.message_dict["auto_replies"] == [
        "The Hard close reply (fr) would render {phone} empty: add a phone redirect"
    ]


def test_an_over_capacity_destination_blocks_approval_with_its_name(manager, approver, hr_coordinator):
    channel = ChannelFactory()
    team = TeamFactory(name="Social")
    team.channels.set([channel])
    agents = [AgentFactory() for _ in range(3)]
    for agent in agents:
        AssignmentFactory(agent=agent, team=team)
    small = TeamFactory(name="Messenger Care", capacity=3)
    plan = hard_close_plan(manager=manager, channels=[channel])
    move_everyone(plan, hr_coordinator=hr_coordinator, agents=agents, to_team=small)
    submit_plan(actor=manager, plan=plan)
    for _ in range(2):  # the team fills up while the plan waits for approval
        AssignmentFactory(team=small)
    result = run_preflight(plan)
    assert not result.ok
    assert any("Messenger Care is over capacity" in m for m in result.problems["reassignments"])
    with pytest.raises(ValidationError):
        approve_plan(actor=approver, plan=plan)


def test_the_freeze_step_fails_the_run_loudly_before_changing_anything(manager, approver, revoked):
    channel = ChannelFactory(kind="messenger", name="Lumen Messenger")
    plan = approved_plan(manager=manager, approver=approver, channels=[channel])
    revoked("messenger")
    phase = plan.phases.get()
    (run_id,) = claim_due_phases(now=phase.instant + timedelta(seconds=1))
    assert run_cutover(run_id=run_id, worker_id="test") == "failed"
    run = CutoverRun.objects.get(pk=run_id)
    assert run.state == RunState.FAILED
    assert run.errors[-1]["step"] == "freeze"
    assert run.errors[-1]["error"].startswith(
        "Preflight failed: Lumen Messenger: the platform refused the connection test: HTTP 401"
    )
    assert Channel.objects.get(pk=channel.pk).state == "active"  # nothing changed
    assert not run.snapshot
    assert AuditEvent.objects.filter(action="run.failed").count() == 1


def test_the_approval_page_disables_approve_with_the_reason(client, manager, approver, revoked):
    channel = ChannelFactory(kind="x", name="Brand X")
    plan = hard_close_plan(manager=manager, channels=[channel])
    submit_plan(actor=manager, plan=plan)
    client.force_login(approver)
    page = client.get(reverse("approval_review", args=[plan.pk])).content.decode()
    assert 'id="approve-blocked"' not in page
    revoked("x")
    # The page reuses the connection result of the last minute (DUSK_CONNECTION_CHECK_CACHE_SECONDS);
    # approving would still test live. A minute later the page asks the platform again.
    cache.clear()
    page = client.get(reverse("approval_review", args=[plan.pk])).content.decode()
    assert 'disabled aria-describedby="approve-blocked"' in page
    assert "Brand X: the platform refused the connection test: HTTP 401" in page


def test_the_plan_page_shows_the_preflight_and_blocks_submit(client, manager):
    channel = ChannelFactory(kind="messenger", name="Lumen Messenger", api_token_env="")
    plan = hard_close_plan(manager=manager, channels=[channel])
    client.force_login(manager)
    page = client.get(reverse("plan_detail", args=[plan.pk])).content.decode()
    assert "Lumen Messenger: no API token variable is named" in page
    assert 'disabled aria-describedby="submit-blocked"' in page


def test_the_api_returns_the_preflight(manager, viewer):
    channel = ChannelFactory(kind="x", name="Brand X", api_token_env="")
    plan = hard_close_plan(manager=manager, channels=[channel])
    client = APIClient()
    client.force_authenticate(viewer)
    body = client.get(f"/api/v1/plans/{plan.pk}/preflight/").json()
    assert body["ok"] is False
    assert body["problems"] == {
        "channels": ["Brand X: no API token variable is named; set one (DUSK_CHANNEL_…) on the channel."]
    }
    assert body["channels"] == [
        {
            "id": channel.pk,
            "name": "Brand X",
            "ok": False,
            "identity": "",
            "problem": "Brand X: no API token variable is named; set one (DUSK_CHANNEL_…) on the channel.",
        }
    ]


def test_the_channel_pages_connection_test(client, manager, viewer, revoked):
    channel = ChannelFactory(kind="discourse", name="Forum", platform_account_id="dusk-bot")
    url = reverse("channel_test_connection", args=[channel.pk])
    client.force_login(manager)
    assert "Test connection" in client.get(reverse("channel_detail", args=[channel.pk])).content.decode()
    page = client.post(url, follow=True).content.decode()
    assert "Connection test passed: the platform answers as dusk-bot." in page
    revoked("discourse")
    page = client.post(url, follow=True).content.decode()
    assert "Connection test failed: the platform refused the connection test: HTTP 401" in page
    client.force_login(viewer)
    assert client.post(url).status_code == 403
    assert "Test connection" not in client.get(reverse("channel_detail", args=[channel.pk])).content.decode()


def test_an_email_channel_tests_the_mail_relay(db, smtp_settings, smtp_server):
    channel = ChannelFactory(kind="email", name="Mail", handle="support@brand.example")
    check = check_connection(channel)
    assert (check.ok, check.identity) == (True, f"SMTP 127.0.0.1:{smtp_server.port}")
    assert smtp_server.messages == []  # a connection, not a mail


def test_the_plan_page_lists_replies_in_phase_order(client, manager):
    start = timezone.now() + timedelta(days=10)
    plan = hard_close_plan(
        manager=manager,
        channels=[ChannelFactory()],
        phases=[
            utc_phase("notice", start),
            utc_phase("soft_close", start + timedelta(days=1)),
            utc_phase("hard_close", start + timedelta(days=2)),
        ],
        auto_replies=[
            AutoReplyInput("hard_close", "en", "Gone: {redirect_url}"),
            AutoReplyInput("notice", "en", "Closing on {date}."),
            AutoReplyInput("soft_close", "en", "No new cases: {redirect_url}"),
        ],
    )
    client.force_login(manager)
    page = client.get(reverse("plan_detail", args=[plan.pk])).content.decode()
    assert page.index("Closing on {date}.") < page.index("No new cases:") < page.index("Gone: {redirect_url}")


def test_a_blank_reply_row_is_refused_not_dropped(db):
    from channels_app.plans.forms import AutoReplyFormSet

    data = {
        "form-TOTAL_FORMS": "2",
        "form-INITIAL_FORMS": "0",
        "form-0-phase_kind": "hard_close",
        "form-0-locale": "en",
        "form-0-text": "Support moved: {redirect_url}",
        "form-1-phase_kind": "",
        "form-1-locale": "",
        "form-1-text": "",
    }
    formset = AutoReplyFormSet(data, form_kwargs={"channel_kinds": ["x"], "phase_kinds": {"hard_close"}})
    assert not formset.is_valid()
    assert formset.non_form_errors() == ["Reply row 2 is empty: write the reply or remove the row."]
    data["form-1-DELETE"] = "on"
    formset = AutoReplyFormSet(data, form_kwargs={"channel_kinds": ["x"], "phase_kinds": {"hard_close"}})
    assert formset.is_valid(), formset.errors
    assert len(formset.rows()) == 1
