"""The reassignment plan as CSV, for HR's spreadsheets (columns in docs/workforce.md).

Export writes one row per agent on the board. Import reads the same columns back and is
all-or-nothing: every line is checked (the file's own columns, dates and status here; agent, team,
language, date and seats by the moves rule the board and the API use too), every problem is
reported with its line number, and nothing is written unless the whole file is valid.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from channels_app.audit.services import record_event
from channels_app.core.csvcells import DefusedWriter, uncell
from channels_app.core.permissions import require
from channels_app.models import Agent, Reassignment, ReassignmentState, SunsetPlan
from channels_app.workforce.selectors import affected_team_ids, board_agents, relocation
from channels_app.workforce.services.moves import MoveProblem, MoveRequest, MovesRefused, locked_plan, propose_moves

EXPORT_COLUMNS = [
    "employee_id",
    "agent_name",
    "email",
    "languages",
    "preferred_language",
    "skills",
    "site",
    "current_team",
    "destination_team",
    "relocation",
    "role",
    "effective_date",
    "status",
]
REQUIRED_COLUMNS = ("employee_id", "destination_team")
MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000


# A cell starting with one of these is a formula to a spreadsheet: export it as text.
def export_reassignments_csv(plan: SunsetPlan) -> str:
    """The board as CSV text (UTF-8; a spreadsheet opens it as is)."""
    out = io.StringIO()
    writer = DefusedWriter(out)
    writer.writerow(EXPORT_COLUMNS)
    rows = (
        board_agents(plan, team_ids=affected_team_ids(plan))
        .order_by("name", "id")
        .values_list(
            "employee_id",
            "name",
            "email",
            "languages",
            "preferred_language",
            "skills",
            "site",
            "time_zone",
            "from_team_name",
            "move_to_team_name",
            "move_to_team_site",
            "move_to_team_time_zone",
            "move_role",
            "move_effective_date",
            "move_state",
        )
    )
    for row in rows.iterator(chunk_size=2000):
        employee_id, name, email, languages, language, skills, site, zone, current, dest, dest_site, dest_zone = row[
            :12
        ]
        role, effective, state = row[12:]
        moved = relocation(site, zone, dest_site, dest_zone) if dest else None
        writer.writerow(
            [
                employee_id,
                name,
                email,
                "; ".join(languages or []),
                language,
                "; ".join(skills or []),
                site,
                current,
                dest,
                # "Jakarta → Dublin" (for reading; ignored on import)
                f"{moved.from_place} → {moved.to_place}" if moved else "",
                role,
                effective.isoformat() if effective else "",
                state,
            ]
        )
    return out.getvalue()


class CsvImportError(ValidationError):
    """The file was refused; `lines` holds (line number, message) pairs, line 0 for the file."""

    def __init__(self, lines: list[tuple[int, str]]):
        self.lines = lines
        super().__init__([_("Line %(line)s: %(message)s") % {"line": n, "message": m} if n else m for n, m in lines])


@dataclass
class ImportResult:
    changed: int
    cleared: int
    unchanged: int


def _decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise CsvImportError([(0, _("The file is larger than %(limit)s MB.") % {"limit": MAX_BYTES // (1024 * 1024)})])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvImportError(
            [(line, _("The file is not UTF-8 text: save it from the spreadsheet as “CSV UTF-8”."))]
        ) from None


def _rows(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvImportError([(0, _("The file is empty: it needs a header row and one row per agent."))]) from None
    except csv.Error as exc:
        raise CsvImportError([(1, _("Unreadable header: %(error)s.") % {"error": exc})]) from None
    columns = [h.strip().lower().replace(" ", "_") for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        message = ngettext(
            "Missing column %(missing)s; the header must name %(required)s.",
            "Missing columns %(missing)s; the header must name %(required)s.",
            len(missing),
        )
        raise CsvImportError([(1, message % {"missing": ", ".join(missing), "required": ", ".join(REQUIRED_COLUMNS)})])
    duplicated = sorted(c for c, n in Counter(columns).items() if n > 1 and c)
    if duplicated:
        message = ngettext("Column named twice: %(columns)s.", "Columns named twice: %(columns)s.", len(duplicated))
        raise CsvImportError([(1, message % {"columns": ", ".join(duplicated)})])
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise CsvImportError(
                    [(reader.line_num, _("More than %(limit)s rows: split the file.") % {"limit": MAX_ROWS})]
                )
            if len(cells) > len(columns):
                extra = cells[len(columns) :]
                if any(c.strip() for c in extra):
                    problem = ngettext(
                        "%(cells)s cells for %(columns)s column.",
                        "%(cells)s cells for %(columns)s columns.",
                        len(columns),
                    ) % {"cells": len(cells), "columns": len(columns)}
                    rows.append((reader.line_num, {"__error__": problem}))
                    continue
            values = {col: uncell(cells[i]) if i < len(cells) else "" for i, col in enumerate(columns)}
            rows.append((reader.line_num, values))
    except csv.Error as exc:
        raise CsvImportError([(reader.line_num, _("Unreadable CSV: %(error)s.") % {"error": exc})]) from None
    return columns, rows


ALLOWED_STATUS = {"", "proposed", "confirmed", "notified", "done"}
# Lines named after a refusal that concerns several moves (a full team), before "...".
SHOWN_LINES = 20


def _where(problem: MoveProblem, lines: list[int]) -> tuple[int, str]:
    """A refusal of the moves rule, placed on the file's first line it concerns."""
    at = [lines[i] for i in problem.moves]
    if len(at) < 2:
        return (at[0] if at else 0, problem.message)
    shown = ", ".join(map(str, at[:SHOWN_LINES])) + (" ..." if len(at) > SHOWN_LINES else "")
    return (at[0], _("%(problem)s Lines: %(lines)s.") % {"problem": problem.message, "lines": shown})


@transaction.atomic
def import_reassignments_csv(*, actor, plan: SunsetPlan | int, data: bytes, filename: str = "") -> ImportResult:
    """Apply a reassignment CSV to the plan, all or nothing. Agents not in the file keep their
    moves; an empty destination_team removes an agent's (proposed or confirmed) move. The file's
    own problems (columns, dates, status, a line twice) are found here; whether a move is allowed
    is the one rule of `propose_moves`, worded as on the board."""
    require(actor, "manage_reassignments")
    plan = locked_plan(plan)
    columns, rows = _rows(_decode(data))
    if not rows:
        raise CsvImportError([(0, _("The file has a header but no agent rows."))])
    board = {
        r["employee_id"]: r
        for r in board_agents(plan, team_ids=affected_team_ids(plan)).values(
            "id",
            "employee_id",
            "name",
            "move_state",
            "move_to_team_name",
            "move_role",
            "move_effective_date",
        )
    }
    # Agents who exist but are not on the board: the moves rule says why they cannot move.
    others = dict(
        Agent.objects.filter(
            employee_id__in={v.get("employee_id", "") for _line, v in rows} - set(board) - {""}
        ).values_list("employee_id", "id")
    )
    errors: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    moves: list[MoveRequest] = []
    move_lines: list[int] = []
    clears: list[dict] = []
    unchanged = 0
    for line, values in rows:
        if "__error__" in values:
            errors.append((line, values["__error__"]))
            continue
        employee_id = values.get("employee_id", "")
        if not employee_id:
            errors.append((line, _("employee_id is empty.")))
            continue
        if employee_id in seen:
            errors.append(
                (line, _("%(id)s already appears on line %(line)s.") % {"id": employee_id, "line": seen[employee_id]})
            )
            continue
        seen[employee_id] = line
        agent = board.get(employee_id)
        team_name = values.get("destination_team", "")
        if agent is None:
            if employee_id in others:
                moves.append(MoveRequest(others[employee_id], team_name))
                move_lines.append(line)
            else:
                errors.append((line, _("No agent %(id)s is affected by this plan.") % {"id": employee_id}))
            continue
        label = pgettext("agent", "%(name)s (%(id)s)") % {"name": agent["name"], "id": employee_id}
        status = values.get("status", "").lower()
        if status not in ALLOWED_STATUS:
            errors.append(
                (
                    line,
                    _("Unknown status “%(status)s”; use proposed or confirmed (or leave it empty).")
                    % {"status": values["status"]},
                )
            )
            continue
        role = values.get("role", agent["move_role"] or "") if "role" in columns else (agent["move_role"] or "")
        raw_date = values.get("effective_date", "") if "effective_date" in columns else ""
        if raw_date:
            try:
                effective = date.fromisoformat(raw_date)
            except ValueError:
                errors.append(
                    (line, _("effective_date “%(value)s” is not a date written YYYY-MM-DD.") % {"value": raw_date})
                )
                continue
        else:
            effective = agent["move_effective_date"]  # none: the rule takes the hard-close day
        if not team_name:
            if agent["move_state"] in (ReassignmentState.NOTIFIED, ReassignmentState.DONE):
                errors.append(
                    (
                        line,
                        _("%(agent)s was already told or moved: give another destination, not none.")
                        % {"agent": label},
                    )
                )
            elif agent["move_state"]:
                clears.append(agent)
            else:
                unchanged += 1
            continue
        if status in ("notified", "done"):
            same = (
                (agent["move_to_team_name"] or "").strip().lower() == team_name.lower()
                and (agent["move_role"] or "") == role
                and agent["move_effective_date"] == effective
            )
            if same and agent["move_state"] == status:
                unchanged += 1
            else:
                errors.append(
                    (line, _("status “%(status)s” is set by Dusk; use proposed or confirmed.") % {"status": status})
                )
            continue
        moves.append(MoveRequest(agent["id"], team_name, effective, role, status or None))
        move_lines.append(line)
    # Removals first, so the seats they give back count for the moves of the same file.
    if clears:
        Reassignment.objects.filter(plan=plan, agent_id__in=[a["id"] for a in clears]).exclude(
            state__in=[ReassignmentState.NOTIFIED, ReassignmentState.DONE]
        ).delete()
    written = 0
    if moves:
        try:
            result = propose_moves(actor=actor, plan=plan, moves=moves, source="csv")
        except MovesRefused as refused:
            errors.extend(_where(problem, move_lines) for problem in refused.problems)
        else:
            written, unchanged = result.written, unchanged + result.unchanged
    if errors:
        raise CsvImportError(sorted(errors))  # leaving the transaction undoes what was written
    record_event(
        actor=actor,
        action="reassignments.imported",
        obj=plan,
        after={
            "file": filename[:200],
            "rows": len(rows),
            "changed": written,
            "cleared": len(clears),
            "unchanged": unchanged,
        },
    )
    return ImportResult(changed=written, cleared=len(clears), unchanged=unchanged)
