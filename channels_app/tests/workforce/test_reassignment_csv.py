"""The reassignment plan as CSV: export, and an all-or-nothing import with errors by line."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from channels_app.models import AuditEvent, Reassignment, ReassignmentState
from channels_app.workforce.services import csv as reassignment_csv
from channels_app.workforce.services.csv import (
    CsvImportError,
    export_reassignments_csv,
    import_reassignments_csv,
)
from channels_app.workforce.services.moves import accept_suggestion, assign_agents

pytestmark = pytest.mark.django_db


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _csv(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


def _state(plan) -> list[tuple]:
    return sorted(
        Reassignment.objects.filter(plan=plan).values_list(
            "agent__name", "to_team__name", "role", "state", "effective_date"
        )
    )


def test_export_lists_every_agent_with_their_destination(world, plan, hr_coordinator):
    assign_agents(
        actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi"), to_team="Phone APAC", role="Phone agent"
    )
    rows = _rows(export_reassignments_csv(plan))
    assert list(rows[0]) == reassignment_csv.EXPORT_COLUMNS
    by_name = {r["agent_name"]: r for r in rows}
    assert sorted(by_name) == ["Amélie", "Bruno", "Chen", "Dewi", "Eko"]
    dewi = by_name["Dewi"]
    assert (dewi["current_team"], dewi["destination_team"], dewi["role"], dewi["status"]) == (
        "Social Jakarta",
        "Phone APAC",
        "Phone agent",
        "proposed",
    )
    assert dewi["effective_date"] == plan.phases.get().local_date.isoformat()
    assert (by_name["Chen"]["destination_team"], by_name["Chen"]["status"]) == ("", "")


def test_export_labels_relocations_from_and_to(world, plan, hr_coordinator):
    world.web_desk.capacity = 4
    world.web_desk.save()
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi"), to_team="Web desk")
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Eko"), to_team="Phone APAC")
    by_name = {r["agent_name"]: r for r in _rows(export_reassignments_csv(plan))}
    assert by_name["Dewi"]["relocation"] == "Jakarta (Asia/Jakarta) → Dublin (Europe/Dublin)"
    assert by_name["Eko"]["relocation"] == by_name["Chen"]["relocation"] == ""


def test_export_defuses_spreadsheet_formulas(world, plan):
    world.agents["Chen"].name = '=HYPERLINK("http://evil")'
    world.agents["Chen"].save()
    text = export_reassignments_csv(plan)
    assert "'=HYPERLINK" in text


def test_an_exported_file_imports_back_without_changing_anything(world, plan, hr_coordinator):
    accept_suggestion(actor=hr_coordinator, plan=plan)
    before = _state(plan)
    result = import_reassignments_csv(actor=hr_coordinator, plan=plan, data=export_reassignments_csv(plan).encode())
    assert (result.changed, result.cleared, result.unchanged) == (0, 0, 5)
    assert _state(plan) == before


def test_import_writes_moves_and_confirms_where_asked(world, plan, hr_coordinator):
    later = timezone.localdate() + timedelta(days=20)
    emp = {n: a.employee_id for n, a in world.agents.items()}
    result = import_reassignments_csv(
        actor=hr_coordinator,
        plan=plan,
        data=_csv(
            "employee_id;destination_team;role;effective_date;status",  # semicolons, as Excel writes in France
            f"{emp['Amélie']};Phone EMEA;Phone agent;{later.isoformat()};confirmed",
            f"{emp['Dewi']};phone apac;;;",
        ),
        filename="moves.csv",
    )
    assert (result.changed, result.cleared, result.unchanged) == (2, 0, 0)
    hard_close = plan.phases.get().local_date
    assert _state(plan) == [
        ("Amélie", "Phone EMEA", "Phone agent", ReassignmentState.CONFIRMED, later),
        ("Dewi", "Phone APAC", "", ReassignmentState.PROPOSED, hard_close),
    ]
    event = AuditEvent.objects.get(action="reassignments.imported")
    assert event.after["file"] == "moves.csv" and event.after["changed"] == 2


def test_an_empty_destination_removes_a_destination(world, plan, hr_coordinator):
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi"), to_team="Phone APAC")
    result = import_reassignments_csv(
        actor=hr_coordinator,
        plan=plan,
        data=_csv("employee_id,destination_team", f"{world.agents['Dewi'].employee_id},"),
    )
    assert result.cleared == 1
    assert not Reassignment.objects.exists()


def test_import_reports_every_bad_line_and_applies_nothing(world, plan, hr_coordinator):
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Eko"), to_team="Phone APAC")
    before = (_state(plan), AuditEvent.objects.count())
    emp = {n: a.employee_id for n, a in world.agents.items()}
    data = _csv(
        "employee_id,destination_team,role,effective_date,status",
        f"{emp['Amélie']},Phone EMEA,,,",  # line 2: fine on its own
        "E-NOBODY,Phone EMEA,,,",  # line 3
        f"{emp['Bruno']},Phone Mars,,,",  # line 4
        f"{emp['Dewi']},Phone EMEA,,,",  # line 5: Dewi speaks only Indonesian
        f"{emp['Chen']},Phone EMEA,,01/10/2030,",  # line 6
        f"{emp['Amélie']},Phone EMEA,,,",  # line 7: twice
        f"{emp['Eko']},Phone APAC,,,approved",  # line 8
        "",  # blank lines are skipped
        f"{emp['Bruno']},Social Paris,,,",  # line 10: Bruno twice, and a retiring team
    )
    with pytest.raises(CsvImportError) as err:
        import_reassignments_csv(actor=hr_coordinator, plan=plan, data=data)
    assert err.value.lines == [
        (3, "No agent E-NOBODY is affected by this plan."),
        (4, "There is no team called “Phone Mars”."),
        (
            5,
            f"Dewi ({emp['Dewi']}) speaks id, but Phone EMEA requires fr or en"
            " (update the agent's languages if they are out of date).",
        ),
        (6, "effective_date “01/10/2030” is not a date written YYYY-MM-DD."),
        (7, f"{emp['Amélie']} already appears on line 2."),
        (8, "Unknown status “approved”; use proposed or confirmed (or leave it empty)."),
        (10, f"{emp['Bruno']} already appears on line 4."),
    ]
    assert err.value.messages[0] == "Line 3: No agent E-NOBODY is affected by this plan."
    assert (_state(plan), AuditEvent.objects.count()) == before


def test_import_refuses_a_file_that_overfills_a_team_naming_its_lines(world, plan, hr_coordinator):
    emp = {n: a.employee_id for n, a in world.agents.items()}
    data = _csv(
        "employee_id,destination_team",
        f"{emp['Amélie']},Web desk",
        f"{emp['Bruno']},Phone EMEA",
        f"{emp['Eko']},Web desk",
    )
    with pytest.raises(CsvImportError) as err:
        import_reassignments_csv(actor=hr_coordinator, plan=plan, data=data)
    assert err.value.lines == [
        (2, "Web desk has 0 free seats of 2; 2 of the selected agents would need one. Lines: 2, 4.")
    ]
    assert not Reassignment.objects.exists()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "The file is empty"),
        (b"name,team\r\nx,y\r\n", "Missing columns employee_id, destination_team"),
        (b"employee_id,destination_team\r\n", "The file has a header but no agent rows."),
        ("employee_id,destination_team\r\nE1,Équipe\r\n".encode("latin-1"), "Line 2: The file is not UTF-8 text"),
    ],
)
def test_unreadable_files_are_refused_clearly(world, plan, hr_coordinator, data, expected):
    with pytest.raises(CsvImportError) as err:
        import_reassignments_csv(actor=hr_coordinator, plan=plan, data=data)
    assert any(expected in message for message in err.value.messages)
    assert not Reassignment.objects.exists()


def test_a_utf8_file_with_a_byte_order_mark_is_read(world, plan, hr_coordinator):
    data = "\ufeffemployee_id,destination_team\r\n{},Phone APAC\r\n".format(world.agents["Eko"].employee_id)
    assert import_reassignments_csv(actor=hr_coordinator, plan=plan, data=data.encode()).changed == 1


def test_only_hr_imports(world, plan, manager):
    with pytest.raises(PermissionDenied):
        import_reassignments_csv(actor=manager, plan=plan, data=b"employee_id,destination_team\r\n")
