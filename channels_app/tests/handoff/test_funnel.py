"""The funnel of a plan: redirected -> notified -> landed (people) -> chose -> arrived -> solved,
the same numbers on the page, in the CSV and in the API."""

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from channels_app.accounts.services import create_api_token
from channels_app.cutover.services.engine import claim_due_phases, run_cutover
from channels_app.handoff.selectors import (
    CONTACT_FORM,
    FUNNEL_BREAKDOWNS,
    plan_funnel,
    plan_funnel_report,
    plan_funnel_series,
)
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
    assert response.content.startswith(b"\xef\xbb\xbf")  # a BOM: spreadsheets read UTF-8
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "plan",
        "step",
        "customers",
        "share_of_redirected",
        "lost",
        "lost_share_of_previous",
        "breakdown",
        "group",
    ]
    assert [(r[1], r[2]) for r in rows[1:] if r[6] == "plan"] == [
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


# --- breakdowns and the series, counted by hand: the `counted` plan of conftest.py -----------


def _counts(steps):
    return [s.count for s in steps]


def test_each_breakdown_matches_the_hand_count_and_adds_up_to_the_plan(counted, django_assert_num_queries):
    # the moved conversations grouped by channel, language and first choice + the plan's targets
    with django_assert_num_queries(2):
        report = plan_funnel_report(counted.pk)
    assert _counts(report.steps) == [12, 10, 8, 7, 6, 3]
    assert _counts(report.steps) == _counts(plan_funnel(counted.pk))
    assert [(r.label, _counts(r.steps)) for r in report.by_channel] == [
        ("Brand forum", [6, 5, 4, 4, 4, 2]),
        ("Brand on X", [6, 5, 4, 3, 2, 1]),
    ]
    assert [(r.key, _counts(r.steps)) for r in report.by_language] == [
        ("en", [5, 5, 3, 3, 2, 1]),
        ("fr", [3, 2, 2, 2, 2, 1]),
        ("id", [4, 3, 3, 2, 2, 1]),
    ]
    assert [(r.key, r.label, _counts(r.steps)) for r in report.by_destination] == [
        (0, "Phone support", [4, 4, 4, 4, 3, 1]),
        (1, "Contact form", [3, 3, 3, 3, 3, 2]),
        (None, "", [5, 3, 1, 0, 0, 0]),
    ]
    english = report.by_language[0].steps
    assert (english[2].lost, english[2].lost_share) == (2, pytest.approx(2 / 5))
    for by in FUNNEL_BREAKDOWNS:
        rows = report.breakdown(by)
        assert [sum(r.steps[i].count for r in rows) for i in range(6)] == _counts(report.steps)


def test_a_customer_who_wrote_through_the_form_first_counts_under_the_contact_form(counted):
    # c6 (X, id) landed and chose no target; they write through the landing page's form, and the
    # destination takes the request: chose and arrived, under "contact form" by destination.
    c6 = Conversation.objects.filter(moved_by_run__plan=counted).order_by("id")[5]
    request = HandoffRequest.objects.create(
        conversation=c6, plan=counted, name="C", email="c@example.com", message="m", created_at=timezone.now()
    )
    destination = counted.handoff_destinations.order_by("position").first()
    HandoffDelivery.objects.create(
        request=request, destination=destination, state="sent", remote_id="35436", sent_at=timezone.now()
    )
    report = plan_funnel_report(counted.pk)
    assert _counts(report.steps) == [12, 10, 8, 8, 7, 3]
    assert _counts(report.steps) == _counts(plan_funnel(counted.pk))
    assert [(r.key, _counts(r.steps)) for r in report.by_destination] == [
        (0, [4, 4, 4, 4, 3, 1]),
        (1, [3, 3, 3, 3, 3, 2]),
        (CONTACT_FORM, [1, 1, 1, 1, 1, 0]),
        (None, [4, 2, 0, 0, 0, 0]),
    ]
    assert [_counts(r.steps) for r in report.by_language if r.key == "id"] == [[4, 3, 3, 3, 3, 1]]
    # The series: the form is a choice and its hand-off an arrival, in today's point.
    today = plan_funnel_series(counted.pk, zone=ZoneInfo("UTC"), days=7).points[-1]
    assert (today.chose, today.arrived) == (8, 7)
    # The same customer also choosing a target today still counts once.
    RedirectClick.objects.create(conversation=c6, target=counted.redirects.get(position=0), at=timezone.now())
    HandoffArrival.objects.create(destination=destination, conversation=c6, status="arrived", at=timezone.now())
    today = plan_funnel_series(counted.pk, zone=ZoneInfo("UTC"), days=7).points[-1]
    assert (today.chose, today.arrived) == (8, 7)


def test_the_report_costs_the_same_queries_at_any_size(counted, django_assert_num_queries):
    more = ChannelFactory(kind="x", name="Another")
    ConversationFactory.create_batch(30, channel=more, locale="pt-BR")
    with django_assert_num_queries(2):
        report = plan_funnel_report(counted.pk)
    assert report.steps[0].count == 12  # not moved by this plan: not counted


def test_the_series_counts_each_day_in_the_viewers_zone(counted, django_assert_num_queries):
    # Two people landed at 03:00 and 06:00 UTC on 1 December: the same day in UTC, two days in New York.
    first, second = Conversation.objects.filter(moved_by_run__plan=counted, landings__kind="human").order_by("id")[:2]
    LandingVisit.objects.all().delete()
    RedirectClick.objects.all().delete()
    HandoffArrival.objects.filter(status="solved").delete()
    LandingVisit.objects.create(conversation=first, kind="human", visitor="a", at=datetime(2026, 12, 1, 3, tzinfo=UTC))
    LandingVisit.objects.create(conversation=second, kind="human", visitor="b", at=datetime(2026, 12, 1, 6, tzinfo=UTC))
    LandingVisit.objects.create(
        conversation=second, kind="repeat", visitor="b", at=datetime(2026, 12, 1, 7, tzinfo=UTC)
    )
    RedirectClick.objects.create(
        conversation=second, target=counted.redirects.get(position=1), at=datetime(2026, 12, 1, 6, 5, tzinfo=UTC)
    )
    HandoffArrival.objects.update(at=datetime(2026, 12, 2, 15, tzinfo=UTC))
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    with django_assert_num_queries(1):
        series = plan_funnel_series(counted.pk, zone=ZoneInfo("America/New_York"), days=7, now=now)
    assert series.unit == "day" and len(series.points) == 7
    assert series.points[0].at == datetime(2026, 11, 27, tzinfo=ZoneInfo("America/New_York"))
    by_day = {
        p.at.date().isoformat(): (p.landed, p.chose, p.arrived, p.solved)
        for p in series.points
        if p.landed or p.arrived
    }
    assert by_day == {"2026-11-30": (1, 0, 0, 0), "2026-12-01": (1, 1, 0, 0), "2026-12-02": (0, 0, 6, 0)}
    utc = plan_funnel_series(counted.pk, zone=ZoneInfo("UTC"), days=7, now=now)
    assert [p.landed for p in utc.points if p.landed] == [2]
    hourly = plan_funnel_series(counted.pk, zone=ZoneInfo("UTC"), days=2, now=now)
    assert hourly.unit == "hour" and len(hourly.points) == 48
    assert {p.at.hour: p.landed for p in hourly.points if p.landed} == {}  # 1 December is before the last 48 hours
    assert [(p.at.isoformat(), p.arrived) for p in hourly.points if p.arrived] == [("2026-12-02T15:00:00+00:00", 6)]
    assert hourly.points[0].at == datetime(2026, 12, 1, 13, tzinfo=UTC)
    everything = plan_funnel_series(counted.pk, zone=ZoneInfo("UTC"), days=None, now=now)
    assert [p.at.date().isoformat() for p in everything.points] == ["2026-12-01", "2026-12-02", "2026-12-03"]
    assert [p.landed for p in everything.points] == [2, 0, 0]


def test_an_empty_plan_has_an_empty_series(manager, approver, smtp_settings):
    plan = approved_plan(manager=manager, approver=approver, channels=[ChannelFactory(kind="x")])
    assert plan_funnel_series(plan.pk, zone=ZoneInfo("UTC"), days=None).points == []
    week = plan_funnel_series(plan.pk, zone=ZoneInfo("UTC"), days=7)
    assert len(week.points) == 7 and week.empty


def test_the_page_breaks_down_by_each_and_draws_the_days(client, viewer, counted):
    client.force_login(viewer)
    url = reverse("plan_funnel", args=[counted.pk])
    html = client.get(url).content.decode()
    assert "Brand forum" in html and "Brand on X" in html  # by channel, the default
    assert '<polyline points="' in html and 'class="line line-landed"' in html
    assert "style=" not in html and "<script>" not in html
    assert f'href="{url}?by=language&amp;range=30d"' in html
    languages = client.get(url, {"by": "language"}).content.decode()
    assert "French (fr)" in languages and "Indonesian (id)" in languages
    destinations = client.get(url, {"by": "destination", "range": "2d"}).content.decode()
    assert "Phone support" in destinations and "None chosen" in destinations
    assert "Per hour" in destinations
    # 5 English customers, 3 landed: 2 lost between notified (5) and landed, 40 %.
    assert "−2 (40 %)" in languages


@pytest.mark.parametrize("query", [{"by": "weather"}, {"range": "1y"}, {"by": ""}, {"range": "<script>"}])
def test_a_bad_breakdown_or_range_is_refused_with_a_reason(client, viewer, counted, query):
    client.force_login(viewer)
    for name in ("plan_funnel", "plan_funnel_csv"):
        response = client.get(reverse(name, args=[counted.pk]), query)
        assert response.status_code == 400
        assert "must be one of" in response.content.decode()


def test_a_plan_with_no_activity_shows_the_empty_chart_state(client, viewer, manager, approver, smtp_settings):
    plan = approved_plan(manager=manager, approver=approver, channels=[ChannelFactory(kind="x")])
    client.force_login(viewer)
    html = client.get(reverse("plan_funnel", args=[plan.pk])).content.decode()
    assert "No one landed, chose a destination or arrived in this period." in html
    assert "<polyline" not in html
    assert "Nothing to break down yet." in html


def test_the_csv_holds_every_breakdown_and_the_days(client, viewer, counted):
    client.force_login(viewer)
    response = client.get(reverse("plan_funnel_csv", args=[counted.pk]), {"range": "7d"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    counts = {(r["breakdown"], r["group"], r["step"]): int(r["customers"]) for r in rows}
    assert counts[("channel", "Brand on X", "chose")] == 3
    assert counts[("language", "id", "notified")] == 3
    assert counts[("destination", "0: Phone support", "arrived")] == 3
    assert counts[("destination", "none", "landed")] == 1
    days = [r for r in rows if r["breakdown"] == "day"]
    assert len(days) == 7 * 4  # seven days, four steps each
    today = [r for r in days if r["group"] == days[-1]["group"]]
    assert {r["step"]: int(r["customers"]) for r in today} == {"landed": 9, "chose": 7, "arrived": 6, "solved": 3}


def test_the_api_has_the_breakdowns_and_the_series_of_the_page(viewer, counted):
    from channels_app.accounts.services import update_profile

    update_profile(actor=viewer, time_zone="Asia/Jakarta")
    _, token = create_api_token(actor=viewer, name="funnel", scopes=["read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = api.get(f"/api/v1/plans/{counted.pk}/funnel/", {"range": "7d"}).json()
    report = plan_funnel_report(counted.pk)
    assert [s["count"] for s in body["steps"]] == [12, 10, 8, 7, 6, 3]
    assert [(r["name"], [s["count"] for s in r["steps"]]) for r in body["by_channel"]] == [
        (r.label, _counts(r.steps)) for r in report.by_channel
    ]
    assert [(r["position"], r["label"], r["steps"][3]["count"]) for r in body["by_destination"]] == [
        (0, "Phone support", 4),
        (1, "Contact form", 3),
        (None, "", 0),
    ]
    assert [r["choice"] for r in body["by_destination"]] == ["target", "target", "none"]
    assert [(r["locale"], r["steps"][0]["count"]) for r in body["by_language"]] == [("en", 5), ("fr", 3), ("id", 4)]
    series = body["series"]
    assert (series["unit"], series["range"], series["time_zone"]) == ("day", "7d", "Asia/Jakarta")
    assert len(series["points"]) == 7 and series["points"][-1]["at"].endswith("+07:00")
    assert sum(p["landed"] for p in series["points"]) == 9
    refused = api.get(f"/api/v1/plans/{counted.pk}/funnel/", {"range": "forever"})
    assert refused.status_code == 400
    assert "range must be one of" in refused.content.decode()


def test_the_page_costs_the_same_queries_with_activity_as_without(
    client, viewer, counted, manager, approver, django_assert_num_queries
):
    empty = approved_plan(manager=manager, approver=approver, channels=[ChannelFactory(kind="x")])
    client.force_login(viewer)
    for plan in (counted, empty):
        url = reverse("plan_funnel", args=[plan.pk])
        client.get(url)  # the first visit caches the time zone in the session
        # session + user + roles + plan + grouped conversations + targets + series
        with django_assert_num_queries(7):
            assert client.get(url, {"by": "language"}).status_code == 200
