"""One rule for proposing an agent's move: the board, the CSV import and the REST API refuse the
same moves with the same words, and a refused move changes nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from channels_app.models import AuditEvent, Reassignment
from channels_app.workforce.services.moves import assign_agents

pytestmark = pytest.mark.django_db


def _through_the_board(client, plan, agent, team) -> list[str]:
    response = client.post(
        reverse("plan_reassignments_assign", args=[plan.pk]),
        {"scope": "selected", "agent_ids": [agent.pk], "to_team": team.name},
    )
    assert response.status_code == 422  # a refused form, drawn again with its errors
    return list(response.context["errors"])


def _through_the_csv_import(client, plan, agent, team) -> list[str]:
    upload = SimpleUploadedFile(
        "moves.csv", f"employee_id,destination_team\n{agent.employee_id},{team.name}\n".encode()
    )
    response = client.post(reverse("plan_reassignments_import", args=[plan.pk]), {"file": upload})
    assert response.status_code == 422
    lines = list(response.context["import_errors"])
    assert [line for line, _message in lines] == [2]  # the row-numbered report names the agent's line
    return [message for _line, message in lines]


def _through_the_api(client, plan, agent, team) -> list[str]:
    item = {"agent": agent.pk, "to_team": team.pk, "effective_date": str(plan.phases.get().local_date)}
    response = client.post(f"/api/v1/plans/{plan.pk}/reassignments/", {"items": [item]}, format="json")
    assert response.status_code == 400
    # The API says which item; the words after that are the rule's.
    return [message.split("): ", 1)[1] for message in response.json()["errors"]["items"]]


DOORS = {"board": _through_the_board, "csv": _through_the_csv_import, "api": _through_the_api}


def _snapshot() -> tuple:
    moves = sorted(Reassignment.objects.values_list("agent_id", "to_team_id", "role", "state", "effective_date"))
    return moves, AuditEvent.objects.count()


@pytest.fixture
def door(request, client, hr_coordinator):
    client.force_login(hr_coordinator)
    api = APIClient()
    api.force_authenticate(hr_coordinator)
    send = DOORS[request.param]
    return lambda plan, agent, team: send(api if request.param == "api" else client, plan, agent, team)


@pytest.mark.parametrize("door", list(DOORS), indirect=True)
def test_an_agent_who_does_not_speak_the_destinations_language_is_refused_at_every_door(world, plan, door):
    dewi = world.agents["Dewi"]  # speaks only Indonesian; Phone EMEA requires French or English
    before = _snapshot()
    shown = door(plan, dewi, world.phone_emea)
    assert shown == [
        f"Dewi ({dewi.employee_id}) speaks id, but Phone EMEA requires fr or en"
        " (update the agent's languages if they are out of date)."
    ]
    assert _snapshot() == before


@pytest.mark.parametrize("door", list(DOORS), indirect=True)
def test_a_move_to_a_full_team_is_refused_at_every_door(world, plan, door):
    before = _snapshot()
    shown = door(plan, world.agents["Chen"], world.web_desk)  # 2 seats, both taken
    assert shown == ["Web desk has 0 free seats of 2; 1 of the selected agents would need one."]
    assert _snapshot() == before


@pytest.mark.parametrize("door", list(DOORS), indirect=True)
def test_seats_proposed_to_other_agents_count_at_every_door(world, plan, door, hr_coordinator):
    # Phone APAC has 2 free seats; Dewi and Eko's proposed moves take them.
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi", "Eko"), to_team="Phone APAC")
    world.agents["Chen"].languages = ["en", "id"]
    world.agents["Chen"].save()
    before = _snapshot()
    shown = door(plan, world.agents["Chen"], world.phone_apac)
    assert shown == ["Phone APAC has 0 free seats of 3; 1 of the selected agents would need one."]
    assert _snapshot() == before
