"""The outcome report: where each moved agent is 30, 60 and 90 days after the move, from the
assignment history and HR's recorded departures, against counts made by hand.

The clock is the report's `today`: day 0 is the first plan's cutover (1 January 2026) and the report
is read on day 100. Plan A moved ten agents from Social to Phone on day 0; plan B moved two on day 50,
so its 60- and 90-day marks are still to come.
"""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError

from channels_app.models import AgentDeparture, Assignment, AuditEvent
from channels_app.tests.support.outcome_helpers import TODAY, day
from channels_app.workforce.selectors import outcome_report
from channels_app.workforce.services.departures import record_departure

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["postgresql", "orm"])
def report_of(request):
    """The report as PostgreSQL computes it, and as the ORM's version (SQLite's) does."""

    def read(plan=None, *, today):
        return outcome_report(plan, today=today, using_orm=request.param == "orm")

    return read


def figures(row):
    return {
        cp.days: {
            "in_role": cp.in_role,
            "moved_again": cp.moved_again,
            **cp.left,
            "not_yet": cp.not_yet,
        }
        for cp in row.checkpoints
    }


def counts(in_role, moved_again, declined_role, resigned, other, not_recorded, not_yet=0):
    return {
        "in_role": in_role,
        "moved_again": moved_again,
        "declined_role": declined_role,
        "resigned": resigned,
        "other": other,
        "not_recorded": not_recorded,
        "not_yet": not_yet,
    }


def test_a_plans_moved_agents_at_30_60_90_days_match_the_hand_count(history, report_of):
    report = report_of(history.plan_a, today=TODAY)

    assert report.total.moved == 10
    assert figures(report.total) == {
        # in role: Ana Ben Dev Gus Ivy Jon; moved again: Hal; left: Chloé (declined), Eve and Fay (no reason)
        30: counts(6, 1, 1, 0, 0, 2),
        # in role: Ana Dev Ivy Jon; moved again: Ben Hal; left: Chloé, Gus (other), Eve, Fay
        60: counts(4, 2, 1, 0, 1, 2),
        # in role: Ana Ivy; moved again: Ben Hal Gus (back on the web desk); left: Chloé, Dev and Jon
        # (resigned), Eve, Fay
        90: counts(2, 3, 1, 2, 0, 2),
    }
    assert [cp.reached for cp in report.total.checkpoints] == [10, 10, 10]
    assert report.total.checkpoints[2].left_total == 5
    assert report.total.checkpoints[0].in_role_percent == 60


def test_days_still_to_come_are_not_yet_reached(history, report_of):
    report = report_of(history.plan_b, today=TODAY)

    assert report.total.moved == 2
    # Day 30 after 20 February has come: Kim in role, Lea resigned; days 60 and 90 have not.
    assert figures(report.total) == {
        30: counts(1, 0, 0, 1, 0, 0),
        60: counts(0, 0, 0, 0, 0, 0, 2),
        90: counts(0, 0, 0, 0, 0, 0, 2),
    }
    assert report.total.checkpoints[1].reached == 0
    assert report.total.checkpoints[1].in_role_percent is None


def test_the_overall_report_adds_up_the_plans_and_keeps_a_row_per_plan(history, report_of):
    report = report_of(today=TODAY)

    assert report.total.moved == 12
    assert figures(report.total) == {
        30: counts(7, 1, 1, 1, 0, 2),
        60: counts(4, 2, 1, 0, 1, 2, 2),
        90: counts(2, 3, 1, 2, 0, 2, 2),
    }
    assert [(row.title, row.moved) for row in report.plans] == [("Retire X", 10), ("Retire the forum", 2)]
    assert report.total.accepted == 0  # nobody answered on their page


def test_accepted_counts_the_agents_who_accepted_the_team_they_were_moved_to(history, report_of):
    """Ana and Ivy accepted Phone on their pages; Ben raised a concern; Kim accepted a team the
    plan no longer moves him to (an answer about an earlier destination is no answer)."""
    from django.utils import timezone

    from channels_app.models import AgentAnswer
    from channels_app.tests.support.factories import ReassignmentFactory

    def answered(name, plan, answer, about):
        move = ReassignmentFactory(
            plan=plan, agent=history.agents[name], from_team=history.social, to_team=history.phone, state="done"
        )
        AgentAnswer.objects.create(reassignment=move, about_team=about, answer=answer, answered_at=timezone.now())

    answered("Ana", history.plan_a, "accepted", history.phone)
    answered("Ivy", history.plan_a, "accepted", history.phone)
    answered("Ben", history.plan_a, "concern", history.phone)
    answered("Kim", history.plan_b, "accepted", history.web)

    report = report_of(today=TODAY)
    assert report.total.accepted == 2
    assert [(row.title, row.accepted) for row in report.plans] == [("Retire X", 2), ("Retire the forum", 0)]
    assert report_of(history.plan_b, today=TODAY).total.accepted == 0


def test_the_same_history_read_earlier_has_fewer_days_reached(history, report_of):
    report = report_of(history.plan_a, today=day(45))

    assert [cp.not_yet for cp in report.total.checkpoints] == [0, 10, 10]


def test_a_report_with_no_moves_is_empty(db, report_of):
    report = report_of(today=TODAY)

    assert report.total.moved == 0
    assert report.plans == []
    assert all(cp.reached == 0 for cp in report.total.checkpoints)


@pytest.mark.parametrize("extra_agents", [0, 100])
def test_the_report_is_two_queries_however_many_moves(history, django_assert_num_queries, extra_agents):
    for _ in range(extra_agents):
        history.moved("More", history.run_a, 0)
    # 1. SAVEPOINT   2. SET LOCAL jit = off (the plan estimate passes the JIT threshold; compiling
    # cost more than running)   3. the moves counted by plan, day and state (computed in SQL)
    # 4. RELEASE SAVEPOINT   5. the moves accepted on the agents' pages, by plan
    with django_assert_num_queries(5):
        report = outcome_report(today=TODAY)
    assert report.total.moved == 12 + extra_agents


# --- recording a departure ----------------------------------------------------------------------------


def test_recording_a_departure_ends_the_open_assignments_deactivates_and_is_audited(history):
    kim = history.agents["Kim"]

    departure = record_departure(
        actor=history.hr, agent=kim, left_on=day(80), reason="declined_role", note="Prefers chat", deactivate=True
    )

    kim.refresh_from_db()
    assert not kim.is_active
    assert list(Assignment.objects.filter(agent=kim, ends_on__isnull=True)) == []
    assert Assignment.objects.get(agent=kim, team=history.phone).ends_on == day(80)
    assert (departure.reason, departure.note, departure.deactivated) == ("declined_role", "Prefers chat", True)
    event = AuditEvent.objects.filter(action="agent.departed").latest("id")
    assert event.after["reason"] == "declined_role"
    assert event.after["assignments_ended"] == 1


@pytest.mark.parametrize(
    ("left_on", "reason", "note", "field"),
    [
        (day(80), "fired", "", "reason"),
        (date.today() + timedelta(days=1), "resigned", "", "left_on"),
        (day(49), "resigned", "", "left_on"),  # Kim joined Phone on day 50
        (day(80), "other", "x" * 501, "note"),
    ],
)
def test_a_bad_departure_is_refused_and_changes_nothing(history, left_on, reason, note, field):
    kim = history.agents["Kim"]
    before = AgentDeparture.objects.count()

    with pytest.raises(ValidationError) as refused:
        record_departure(actor=history.hr, agent=kim, left_on=left_on, reason=reason, note=note, deactivate=True)

    assert field in refused.value.message_dict
    kim.refresh_from_db()
    assert kim.is_active
    assert Assignment.objects.filter(agent=kim, ends_on__isnull=True).count() == 1
    assert AgentDeparture.objects.count() == before


def test_a_departure_can_give_its_reason_to_an_assignment_ended_elsewhere(history):
    # Eve's assignment was ended on day 20 in the admin, with no reason.
    record_departure(actor=history.hr, agent=history.agents["Eve"], left_on=day(20), reason="resigned")

    assert figures(outcome_report(history.plan_a, today=TODAY).total)[30]["resigned"] == 1

    with pytest.raises(ValidationError, match="ended on 2026-01-21"):
        record_departure(actor=history.hr, agent=history.agents["Eve"], left_on=day(25), reason="resigned")


def test_only_hr_and_admins_record_departures(history, manager):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        record_departure(actor=manager, agent=history.agents["Kim"], left_on=day(80), reason="resigned")
