"""The funnel of a plan: redirected -> notified -> landed (people) -> chose -> arrived -> solved,
the same numbers on the page, in the CSV and in the API."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from channels_app.accounts.services import create_api_token
from channels_app.cutover.services.engine import claim_due_phases, run_cutover
from channels_app.handoff.selectors import plan_funnel
from channels_app.models import (
    Conversation,
    HandoffArrival,
    HandoffDelivery,
    HandoffDestination,
    HandoffRequest,
    LandingVisit,
    OutboxMessage,
    OutboxState,
    RedirectClick,
    SunsetPlan,
)
from channels_app.tests.support.factories import ChannelFactory, ConversationFactory
from channels_app.tests.support.helpers import approved_plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def ran(manager, approver, smtp_settings):
    """Ten conversations moved by a plan's hard close; then 8 notified, 5 of those landed (plus a
    crawler on another), 3 chose, 2 arrived, 1 solved."""
    x = ChannelFactory(kind="x", name="Brand on X")
    ConversationFactory.create_batch(10, channel=x)
    plan = approved_plan(manager=manager, approver=approver, channels=[x], title='=HYPERLINK("http://evil")')
    run_cutover(run_id=claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))[0], worker_id="t")
    moved = list(Conversation.objects.filter(moved_by_run__plan=plan).order_by("id"))
    assert len(moved) == 10
    now = timezone.now()
    notices = OutboxMessage.objects.filter(created_by_run__plan=plan).order_by("conversation_id")
    OutboxMessage.objects.filter(pk__in=[n.pk for n in notices[:8]]).update(
        state=OutboxState.SENT, sent_at=now, platform_response_id="1850000000000000003"
    )
    notified = [n.conversation for n in notices[:8]]
    for c in notified[:5]:
        LandingVisit.objects.create(conversation=c, kind="human", visitor="v", at=now)
    LandingVisit.objects.create(conversation=notified[6], kind="crawler", visitor="bot", at=now)
    # A person who landed without being notified does not count past "notified".
    LandingVisit.objects.create(conversation=notices[9].conversation, kind="human", visitor="v", at=now)
    target = plan.redirects.get(position=1)
    for c in notified[:3]:
        RedirectClick.objects.create(conversation=c, target=target, at=now)
    destination = HandoffDestination.objects.create(
        plan=plan, position=1, kind="webhook", url="https://hooks.example.com", credential_env="DUSK_CHANNEL_H"
    )
    for c in notified[:2]:
        HandoffArrival.objects.create(destination=destination, conversation=c, status="arrived", at=now)
    HandoffArrival.objects.create(destination=destination, conversation=notified[0], status="solved", at=now)
    return plan


def test_each_step_counts_those_who_reached_it_and_every_step_before(ran, django_assert_num_queries):
    with django_assert_num_queries(1):  # one aggregate over the moved conversations
        steps = plan_funnel(ran.pk)
    assert [(s.key, s.count, s.lost) for s in steps] == [
        ("redirected", 10, 0),
        ("notified", 8, 2),
        ("landed", 5, 3),
        ("chose", 3, 2),
        ("arrived", 2, 1),
        ("solved", 1, 1),
    ]
    assert steps[2].lost_share == pytest.approx(3 / 8)
    assert steps[5].share_of_first == pytest.approx(0.1)


def test_writing_through_the_contact_form_is_a_choice_and_its_hand_off_an_arrival(ran):
    # The fifth customer who landed chose no target, but wrote through the landing page's form.
    landed = Conversation.objects.filter(moved_by_run__plan=ran, landings__kind="human").order_by("id").distinct()
    customer = landed[4]
    assert not RedirectClick.objects.filter(conversation=customer).exists()
    request = HandoffRequest.objects.create(
        conversation=customer, plan=ran, name="C", email="c@example.com", message="m", created_at=timezone.now()
    )
    delivery = HandoffDelivery.objects.create(request=request, destination=ran.handoff_destinations.get())
    counts = {s.key: s.count for s in plan_funnel(ran.pk)}
    assert (counts["chose"], counts["arrived"]) == (4, 2)  # chose; not there until the destination took it
    HandoffDelivery.objects.filter(pk=delivery.pk).update(state="sent", remote_id="35436")
    counts = {s.key: s.count for s in plan_funnel(ran.pk)}
    assert (counts["chose"], counts["arrived"], counts["solved"]) == (4, 3, 1)


def test_a_plan_that_moved_no_one_has_an_empty_funnel(manager, approver, smtp_settings):
    plan = approved_plan(manager=manager, approver=approver, channels=[ChannelFactory(kind="x")])
    steps = plan_funnel(plan.pk)
    assert {s.count for s in steps} == {0}
    assert {s.share_of_first for s in steps} == {None}


def test_the_page_shows_the_steps(client, viewer, ran):
    client.force_login(viewer)
    response = client.get(reverse("plan_funnel", args=[ran.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Redirected", "Notified", "Landed (people)", "Chose a destination", "Arrived", "Solved"):
        assert text in html
    assert '<progress max="100" value="50"' in html  # landed: 5 of 10
    assert "(38 %)" in html  # 3 of the 8 notified did not land


def test_the_csv_has_the_same_numbers_and_defuses_formulas(client, viewer, ran):
    client.force_login(viewer)
    response = client.get(reverse("plan_funnel_csv", args=[ran.pk]))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["plan", "step", "customers", "share_of_redirected", "lost", "lost_share_of_previous"]
    assert [(r[1], r[2]) for r in rows[1:]] == [
        ("redirected", "10"),
        ("notified", "8"),
        ("landed", "5"),
        ("chose", "3"),
        ("arrived", "2"),
        ("solved", "1"),
    ]
    assert {r[0] for r in rows[1:]} == {"'" + SunsetPlan.objects.get(pk=ran.pk).title}


def test_the_api_has_the_same_numbers(viewer, ran):
    _, token = create_api_token(actor=viewer, name="funnel", scopes=["read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = api.get(f"/api/v1/plans/{ran.pk}/funnel/").json()
    assert body["plan"] == ran.pk
    assert [(s["key"], s["count"]) for s in body["steps"]] == [(s.key, s.count) for s in plan_funnel(ran.pk)]
    assert APIClient().get(f"/api/v1/plans/{ran.pk}/funnel/").status_code == 401
