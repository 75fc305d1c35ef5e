"""Dry run of a phase (CLI and page) and the rollback page."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from channels_app.cutover.selectors import dry_run
from channels_app.cutover.services.engine import claim_due_phases, run_cutover
from channels_app.models import ChannelState, Conversation, CutoverRun, OutboxMessage, PlanState
from channels_app.tests.support.factories import (
    AssignmentFactory,
    AutoReplyFactory,
    ChannelFactory,
    ConversationFactory,
    TeamFactory,
)
from channels_app.tests.support.helpers import hard_close_plan, move_everyone, submit_and_approve

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan_with_french_customers(manager, approver, hr_coordinator):
    x = ChannelFactory(kind="x", name="Brand on X")
    team = TeamFactory(name="Social care")
    team.channels.set([x])
    phone = TeamFactory(name="Phone")
    agent = AssignmentFactory(team=team, agent__name="Chloé Martin").agent
    ConversationFactory(channel=x, customer_name="Amélie", locale="fr", reference="DSK-FRENCH01")
    ConversationFactory(channel=x, customer_name="Budi", locale="id-ID", reference="DSK-INDO0001")
    plan = hard_close_plan(manager=manager, channels=[x])
    AutoReplyFactory(plan=plan, phase_kind="hard_close", locale="fr", text="Bonjour {customer_name}, réf {reference}.")
    move_everyone(plan, hr_coordinator=hr_coordinator, agents=[agent], to_team=phone)
    return submit_and_approve(plan, manager=manager, approver=approver)


def _counts():
    with connection.cursor() as cur:
        result = {}
        for table in (
            "channels_app_conversation",
            "channels_app_outboxmessage",
            "channels_app_assignment",
            "channels_app_notification",
            "channels_app_cutoverrun",
        ):
            cur.execute(f"SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(id AS TEXT))), 0) FROM {table}")
            result[table] = cur.fetchone()
        return result


def test_cli_dry_run_lists_every_item_rendered_and_changes_nothing(plan_with_french_customers):
    before = _counts()
    out = io.StringIO()
    call_command("cutover_dry_run", str(plan_with_french_customers.pk), "--phase", "hard_close", "--json", stdout=out)
    data = json.loads(out.getvalue())
    notices = {c["reference"]: c for c in data["conversations"]}
    # French customer gets the French notice; id-ID falls back to the plan default (en).
    assert notices["DSK-FRENCH01"]["notice"] == "Bonjour Amélie, réf DSK-FRENCH01."
    assert notices["DSK-INDO0001"]["locale"] == "en"
    assert "DSK-INDO0001" in notices["DSK-INDO0001"]["notice"]
    assert data["channels"] == [{"channel": "Brand on X", "from": "active", "to": "retired"}]
    assert data["moves"][0]["agent"] == "Chloé Martin"
    assert {e["to"] for e in data["emails"]} >= {"maya@example.com", "arjun@example.com"}
    assert _counts() == before
    assert set(Conversation.objects.values_list("state", flat=True)) == {"open"}


def test_dry_run_writes_the_date_in_each_replys_language(manager):
    x = ChannelFactory(kind="x")
    ConversationFactory(channel=x, customer_name="Amélie", locale="fr", reference="DSK-FRENCH01")
    ConversationFactory(channel=x, customer_name="Ann", locale="en", reference="DSK-ENGLISH1")
    plan = hard_close_plan(manager=manager, channels=[x], at=datetime(2027, 10, 1, 9, 0, tzinfo=UTC))
    plan.auto_replies.update(text="Closed on {date}.")
    AutoReplyFactory(plan=plan, phase_kind="hard_close", locale="fr", text="Fermé depuis le {date}.")
    report = dry_run(plan.phases.get())
    texts = {c.conversation.reference: c.text for c in report.conversations}
    assert texts == {"DSK-FRENCH01": "Fermé depuis le 1 octobre 2027.", "DSK-ENGLISH1": "Closed on 1 October 2027."}


def test_dry_run_page_shows_the_report_to_any_role(client, plan_with_french_customers, viewer, outsider):
    phase = plan_with_french_customers.phases.get()
    url = reverse("phase_dry_run", args=[plan_with_french_customers.pk, phase.pk])
    client.force_login(viewer)
    body = client.get(url).content.decode()
    assert "Bonjour Amélie, réf DSK-FRENCH01." in body
    assert "Chloé Martin" in body
    client.force_login(outsider)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("rows", [10, 1000])
def test_dry_run_page_query_count_is_constant(
    client, plan_with_french_customers, viewer, django_assert_num_queries, rows
):
    channel = plan_with_french_customers.channels.get()
    Conversation.objects.bulk_create(
        [
            Conversation(
                channel=channel,
                platform_thread_id=f"bulk{i}",
                customer_id=f"c{i}",
                customer_handle=f"@c{i}",
                reference=f"DSK-BULK{i:04d}",
                opened_at=plan_with_french_customers.created_at,
                last_message_at=plan_with_french_customers.created_at,
            )
            for i in range(rows)
        ]
    )
    client.force_login(viewer)
    url = reverse("phase_dry_run", args=[plan_with_french_customers.pk, plan_with_french_customers.phases.get().pk])
    client.get(reverse("profile"))  # first request of the session stores the person's time zone in it
    # session, user, groups (role check); phase with plan and people; phase channel ids;
    # channels; open conversation count; moves with agents and teams; agents without a
    # destination (staffing threshold, teams' channels, message volume, the count);
    # auto-replies; redirects; phases (for {date}); one page of conversations; whether the plan
    # has a public notice (it has none: nothing more).
    with django_assert_num_queries(17):
        response = client.get(url)
    assert response.status_code == 200


def test_rollback_page_validates_and_rolls_back(client, plan_with_french_customers, manager, viewer, smtp_settings):
    run_ids = claim_due_phases(now=plan_with_french_customers.phases.get().instant + timedelta(seconds=1))
    run_cutover(run_id=run_ids[0], worker_id="t")
    run = CutoverRun.objects.get(pk=run_ids[0])
    url = reverse("run_rollback", args=[run.pk])
    client.force_login(viewer)
    assert client.get(url).status_code == 200
    assert client.post(url, {"reason": "because"}).status_code == 403
    client.force_login(manager)
    response = client.post(url, {"reason": "  "})
    assert response.status_code == 422
    assert "Say why" in response.content.decode()
    assert plan_with_french_customers.channels.get().state == ChannelState.RETIRED
    response = client.post(url, {"reason": "Phone queue overloaded"})
    assert response.status_code == 302
    plan_with_french_customers.refresh_from_db()
    assert plan_with_french_customers.state == PlanState.ROLLED_BACK
    assert plan_with_french_customers.channels.get().state == ChannelState.ACTIVE
    assert not OutboxMessage.objects.exists()
    assert "Phone queue overloaded" in client.get(url).content.decode()


def test_rollback_page_asks_for_the_reason_and_confirms_in_french(
    client, plan_with_french_customers, manager, smtp_settings
):
    run_ids = claim_due_phases(now=plan_with_french_customers.phases.get().instant + timedelta(seconds=1))
    run_cutover(run_id=run_ids[0], worker_id="t")
    url = reverse("run_rollback", args=[run_ids[0]])
    client.force_login(manager)
    client.cookies["django_language"] = "fr"
    response = client.post(url, {"reason": "  "})
    assert response.status_code == 422
    assert "Indiquez pourquoi la phase fait l&#x27;objet d&#x27;un retour arrière" in response.content.decode()
    response = client.post(url, {"reason": "File téléphonique saturée"}, follow=True)
    html = response.content.decode()
    assert "Le retour arrière de la phase a été effectué ; le journal d&#x27;audit l&#x27;enregistre." in html
