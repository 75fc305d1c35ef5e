"""The outcome report and departures in the REST API: the same figures and the same rule as the pages."""

import pytest
from rest_framework.test import APIClient

from channels_app.models import AgentDeparture, Assignment
from channels_app.tests.support.outcome_helpers import build_history, day

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def history(hr_coordinator):
    return build_history(hr_coordinator)


def test_the_overall_report_has_the_totals_and_a_row_per_plan(history, manager):
    response = api(manager).get("/api/v1/outcomes/")

    assert response.status_code == 200
    body = response.json()
    assert body["total"]["plan"] is None and body["total"]["moved"] == 12
    assert body["total"]["accepted"] == 0  # nobody answered on their page
    assert [(row["title"], row["moved"]) for row in body["plans"]] == [("Retire X", 10), ("Retire the forum", 2)]
    day90 = body["plans"][0]["checkpoints"][2]
    assert day90 == {
        "days": 90,
        "reached": 10,
        "in_role": 2,
        "in_role_percent": 20,
        "moved_again": 3,
        "left": 5,
        "left_by_reason": {"declined_role": 1, "resigned": 2, "other": 0, "not_recorded": 2},
        "not_yet": 0,
    }


def test_a_plans_report(history, hr_coordinator):
    body = api(hr_coordinator).get(f"/api/v1/plans/{history.plan_a.pk}/outcomes/").json()

    assert body["total"]["plan"] == history.plan_a.pk
    assert body["plans"] == [] or [row["plan"] for row in body["plans"]] == [history.plan_a.pk]
    assert [cp["in_role"] for cp in body["total"]["checkpoints"]] == [6, 4, 2]


@pytest.mark.parametrize("person", ["viewer", "approver"])
def test_roles_without_outcomes_are_refused(history, person, request):
    client = api(request.getfixturevalue(person))

    assert client.get("/api/v1/outcomes/").status_code == 403
    assert client.get(f"/api/v1/plans/{history.plan_a.pk}/outcomes/").status_code == 403


def test_hr_records_a_departure_and_the_agent_shows_it(history, hr_coordinator):
    kim = history.agents["Kim"]
    client = api(hr_coordinator)

    response = client.post(
        f"/api/v1/agents/{kim.pk}/departure/",
        {"left_on": day(70).isoformat(), "reason": "resigned", "note": "Moved abroad", "deactivate": True},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["reason"] == "resigned"
    agent = client.get(f"/api/v1/agents/{kim.pk}/").json()
    assert agent["is_active"] is False
    assert agent["current_teams"] == []
    assert [(d["left_on"], d["reason"], d["note"]) for d in agent["departures"]] == [
        (day(70).isoformat(), "resigned", "Moved abroad")
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"left_on": "2026-03-01", "reason": "fired"}, "reason"),
        ({"left_on": "2026-02-01", "reason": "resigned"}, "left_on"),  # before Kim joined Phone
        ({"left_on": "2026-03-01", "reason": "resigned", "is_active": False}, "is_active"),
    ],
)
def test_a_bad_departure_is_a_400_and_changes_nothing(history, hr_coordinator, body, field):
    kim = history.agents["Kim"]

    response = api(hr_coordinator).post(f"/api/v1/agents/{kim.pk}/departure/", body, format="json")

    assert response.status_code == 400
    assert field in response.content.decode()
    assert not AgentDeparture.objects.filter(agent=kim).exists()
    assert Assignment.objects.filter(agent=kim, ends_on__isnull=True).count() == 1


def test_a_manager_may_not_record_a_departure(history, manager):
    kim = history.agents["Kim"]

    response = api(manager).post(
        f"/api/v1/agents/{kim.pk}/departure/", {"left_on": "2026-03-01", "reason": "resigned"}, format="json"
    )

    assert response.status_code == 403
    assert not AgentDeparture.objects.filter(agent=kim).exists()
