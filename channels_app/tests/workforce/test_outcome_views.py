"""The outcome pages: overall and per plan, the CSV, and HR recording a departure from them."""

import csv
import io
import re

import pytest
from django.urls import reverse

from channels_app.models import AgentDeparture, Assignment, SunsetPlan
from channels_app.tests.support.factories import SunsetPlanFactory
from channels_app.tests.support.outcome_helpers import day

pytestmark = pytest.mark.django_db


def _no_inline_code(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert " style=" not in html and "<style" not in html, "inline style"


def _rows(response) -> list[dict]:
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff"), "a byte-order mark, so spreadsheets read UTF-8"
    return list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))


@pytest.mark.parametrize("person", ["hr_coordinator", "manager"])
def test_hr_and_managers_see_every_plans_outcomes(client, history, person, request):
    client.force_login(request.getfixturevalue(person))

    response = client.get(reverse("outcomes"))

    assert response.status_code == 200
    html = response.content.decode()
    _no_inline_code(html)
    assert "12 agents moved" in html
    assert '<span id="accepted">0 accepted</span>' in html  # nobody answered on their page
    assert '<svg class="chart"' in html and 'class="seg-in_role"' in html
    # Read today, long after day 90 of both plans: every day is reached.
    assert re.search(r"Retire X</a></td><td class=\"num\">10</td>", html)
    assert 'href="' + reverse("plan_outcomes", args=[history.plan_a.pk]) + '"' in html
    assert 'aria-current="page">Outcomes' in html


@pytest.mark.parametrize("person", ["viewer", "approver"])
def test_other_roles_may_not_read_the_outcomes_and_see_no_link(client, history, person, request):
    client.force_login(request.getfixturevalue(person))

    assert client.get(reverse("outcomes")).status_code == 403
    assert client.get(reverse("plan_outcomes", args=[history.plan_a.pk])).status_code == 403
    assert reverse("outcomes") not in client.get(reverse("home")).content.decode()


def test_a_plans_page_shows_its_own_figures_and_is_linked_from_the_plan(client, history, manager):
    client.force_login(manager)

    html = client.get(reverse("plan_outcomes", args=[history.plan_a.pk])).content.decode()

    assert "10 agents moved" in html
    table = html[html.index('id="outcome-table"') :]
    # Day 30: 10 reached, 6 in role (60 %), 1 moved again, 3 left (1 declined, 0 resigned, 0 other, 2 unrecorded)
    assert re.search(
        r'<th scope="row">30</th><td class="num">10</td>\s*<td class="num">6 \(60 %\)</td>\s*'
        r'<td class="num">1</td><td class="num">3</td>\s*<td class="num">1</td><td class="num">0</td>'
        r'<td class="num">0</td><td class="num">2</td>',
        table,
    )
    assert 'id="outcome-plans"' not in html  # the per-plan table is the overall page's
    plan_page = client.get(reverse("plan_detail", args=[history.plan_a.pk])).content.decode()
    assert reverse("plan_outcomes", args=[history.plan_a.pk]) in plan_page


def test_a_plan_that_moved_nobody_says_so(client, hr_coordinator):
    plan = SunsetPlanFactory(title="Nothing ran")
    client.force_login(hr_coordinator)

    html = client.get(reverse("plan_outcomes", args=[plan.pk])).content.decode()

    assert "This plan has not moved anyone yet" in html
    assert "<svg" not in html.split('id="outcome-summary"')[1].split("</section>")[0]


def test_the_overall_page_with_no_move_at_all_says_so(client, hr_coordinator):
    client.force_login(hr_coordinator)

    html = client.get(reverse("outcomes")).content.decode()

    assert "No cutover has moved an agent yet" in html


def test_the_csv_has_a_bom_rows_per_plan_and_day_and_no_formula_cells(client, history, manager):
    SunsetPlan.objects.filter(pk=history.plan_b.pk).update(title='=HYPERLINK("http://evil")')
    client.force_login(manager)

    response = client.get(reverse("outcomes_csv"))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="outcomes.csv"'
    rows = _rows(response)
    assert [(r["plan"], r["day"]) for r in rows] == [
        ("Retire X", "30"),
        ("Retire X", "60"),
        ("Retire X", "90"),
        ('\'=HYPERLINK("http://evil")', "30"),
        ('\'=HYPERLINK("http://evil")', "60"),
        ('\'=HYPERLINK("http://evil")', "90"),
        ("All plans", "30"),
        ("All plans", "60"),
        ("All plans", "90"),
    ]
    day90 = rows[2]
    assert {k: day90[k] for k in ("moved", "accepted", "reached", "in_role", "moved_again", "left")} == {
        "moved": "10",
        "accepted": "0",
        "reached": "10",
        "in_role": "2",
        "moved_again": "3",
        "left": "5",
    }
    assert (day90["left_declined_role"], day90["left_resigned"], day90["left_not_recorded"]) == ("1", "2", "2")


def test_a_plans_csv_has_only_its_rows(client, history, hr_coordinator):
    client.force_login(hr_coordinator)

    response = client.get(reverse("plan_outcomes_csv", args=[history.plan_b.pk]))

    assert response["Content-Disposition"] == f'attachment; filename="plan-{history.plan_b.pk}-outcomes.csv"'
    rows = _rows(response)
    assert [(r["plan_id"], r["day"], r["in_role"], r["left_resigned"]) for r in rows] == [
        (str(history.plan_b.pk), "30", "1", "1"),
        (str(history.plan_b.pk), "60", "1", "1"),
        (str(history.plan_b.pk), "90", "1", "1"),
    ]


def test_hr_records_a_departure_from_a_plans_page(client, history, hr_coordinator):
    kim = history.agents["Kim"]
    client.force_login(hr_coordinator)

    response = client.post(
        reverse("outcomes_departure"),
        {
            "plan": history.plan_b.pk,
            "employee_id": kim.employee_id,
            "left_on": day(70).isoformat(),
            "reason": "declined_role",
            "note": "Prefers chat",
            "deactivate": "on",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("plan_outcomes", args=[history.plan_b.pk])
    departure = AgentDeparture.objects.get(agent=kim)
    assert (departure.left_on, departure.reason, departure.deactivated) == (day(70), "declined_role", True)
    html = client.get(response["Location"]).content.decode()
    assert f"Recorded: {kim} left on" in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"employee_id": "NOBODY", "left_on": "2026-03-01", "reason": "resigned"}, "No agent has the employee id"),
        ({"left_on": "2026-03-01", "reason": "fired"}, "Select a valid choice"),
        ({"left_on": "2026-02-01", "reason": "resigned"}, "after that day"),  # Kim joined Phone on 20 Feb
    ],
)
def test_a_bad_departure_form_shows_the_error_and_changes_nothing(client, history, hr_coordinator, data, message):
    kim = history.agents["Kim"]
    client.force_login(hr_coordinator)
    data = {"employee_id": kim.employee_id, **data}

    response = client.post(reverse("outcomes_departure"), data)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert not AgentDeparture.objects.filter(agent=kim).exists()
    assert Assignment.objects.filter(agent=kim, ends_on__isnull=True).count() == 1


def test_managers_see_no_departure_form_and_may_not_post_one(client, history, manager):
    client.force_login(manager)

    assert 'id="record-departure"' not in client.get(reverse("outcomes")).content.decode()
    response = client.post(
        reverse("outcomes_departure"),
        {"employee_id": history.agents["Kim"].employee_id, "left_on": "2026-03-01", "reason": "resigned"},
    )
    assert response.status_code == 403
    assert not AgentDeparture.objects.filter(agent=history.agents["Kim"]).exists()


def test_the_outcome_page_costs_the_same_queries_however_many_moves(
    client, history, hr_coordinator, django_assert_num_queries
):
    client.force_login(hr_coordinator)
    client.get(reverse("outcomes"))
    for _ in range(50):
        history.moved("More", history.run_a, 0)

    # 1 session, 2 user, 3 roles, 4-7 the report (savepoint, SET LOCAL jit = off, the counts,
    # release), 8 the moves accepted on the agents' pages: nothing per move or per plan
    with django_assert_num_queries(8):
        response = client.get(reverse("outcomes"))
    assert "62 agents moved" in response.content.decode()
