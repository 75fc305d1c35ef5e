"""The workforce transition: give every affected agent a destination that fits, keep the
receiving teams within their seats, tell the agents, and refuse a plan whose people side is not
ready. Reads live in `channels_app.workforce_queries`; this module writes."""

from __future__ import annotations

import hashlib
import json
import logging
import smtplib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext

from channels_app.audit.services import record_event
from channels_app.core.errors import InvalidTransition
from channels_app.core.permissions import require
from channels_app.core.queue import SEND_AGENT_NOTICES, enqueue_on_commit
from channels_app.models import (
    Agent,
    AgentNotice,
    NoticeState,
    Phase,
    PhaseKind,
    PhaseState,
    PlanChannel,
    PlanStaffing,
    PlanState,
    Reassignment,
    ReassignmentState,
    SunsetPlan,
    Team,
)
from channels_app.workforce.selectors import (
    ACTIVE_MOVE_STATES,
    affected_agents,
    affected_team_ids,
    agent_emails_blocked,
    agent_language,
    board_agents,
    destination_problems,
    destination_teams,
    destinations,
    hard_close_date,
    page_url,
    with_move,
)
from channels_app.workforce.staffing.solver import (
    AgentProfile,
    SeatPool,
    Suggestion,
    speaks_required,
    suggest_assignment,
)

log = logging.getLogger(__name__)

# Moves can change until the cutover starts; the guard is checked again at approval.
EDITABLE_PLAN_STATES = (PlanState.DRAFT, PlanState.PENDING_APPROVAL, PlanState.SCHEDULED)
MAX_NOTICE_ATTEMPTS = 5
UPSERT_BATCH = 2000


# --- helpers ------------------------------------------------------------------------------------


def _plan_id(plan: SunsetPlan | int) -> int:
    return plan.pk if isinstance(plan, SunsetPlan) else int(plan)


def locked_plan(plan: SunsetPlan | int, *, editable: bool = True) -> SunsetPlan:
    """The plan, locked for this transaction; refused once its moves can no longer change."""
    locked = SunsetPlan.objects.select_for_update().get(pk=_plan_id(plan))
    if editable and locked.state not in EDITABLE_PLAN_STATES:
        raise InvalidTransition(
            _("“%(plan)s” is %(state)s; its moves can no longer change.")
            % {"plan": locked.title, "state": locked.get_state_display().lower()}
        )
    return locked


def _clean_role(role: str) -> str:
    role = (role or "").strip()
    if len(role) > 80:
        raise ValidationError({"role": [_("Keep the role under 80 characters.")]})
    return role


def resolve_effective_date(plan: SunsetPlan, value: date | None, *, today: date | None = None) -> date:
    """The move's effective date: the given one, else the plan's hard-close day; never past."""
    today = today or timezone.localdate()
    if value is None:
        value = hard_close_date(plan)
        if value is None:
            raise ValidationError(
                {"effective_date": [_("This plan has no hard-close phase: give the effective date of the move.")]}
            )
    if value < today:
        raise ValidationError({"effective_date": [_("%(date)s is in the past.") % {"date": f"{value:%Y-%m-%d}"}]})
    return value


class MoveRow(NamedTuple):  # a tuple: 100,000 of them are made per accepted suggestion
    agent_id: int
    from_team_id: int
    to_team_id: int
    role: str
    effective_date: date
    state: str


def upsert_moves(plan: SunsetPlan, rows: list[MoveRow]) -> None:
    """Write many moves set-based: one INSERT ... ON CONFLICT (plan, agent) DO UPDATE. On
    PostgreSQL the rows travel as arrays (unnest), so 10,000 moves are one short statement;
    elsewhere Django's bulk upsert does the same in batches."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        Reassignment.objects.bulk_create(
            [
                Reassignment(
                    plan=plan,
                    agent_id=r.agent_id,
                    from_team_id=r.from_team_id,
                    to_team_id=r.to_team_id,
                    role=r.role,
                    effective_date=r.effective_date,
                    state=r.state,
                )
                for r in rows
            ],
            update_conflicts=True,
            unique_fields=["plan", "agent"],
            update_fields=["from_team", "to_team", "role", "effective_date", "state"],
            batch_size=UPSERT_BATCH,
        )
        return
    table = connection.ops.quote_name(Reassignment._meta.db_table)
    # Ids travel as one comma-separated string each (PostgreSQL splits it far faster than the
    # driver adapts 100,000 Python ints); a column with one value for every row is sent once.
    columns = {
        "role": ("varchar", [r.role for r in rows]),
        "effective_date": ("date", [r.effective_date for r in rows]),
        "state": ("varchar", [str(r.state) for r in rows]),
    }
    selects, params = [], [plan.pk]
    for name, (kind, values) in columns.items():
        if all(v == values[0] for v in values):
            selects.append(f"%s::{kind}")
            params.append(values[0])
        else:
            selects.append(f"m.{name}")
    arrays = ["string_to_array(%s, ',')::bigint[]"] * 3
    array_params = [",".join(str(getattr(r, f)) for r in rows) for f in ("agent_id", "from_team_id", "to_team_id")]
    varying = [name for name, _kind in columns.items() if f"m.{name}" in selects]
    for name in varying:
        arrays.append(f"%s::{columns[name][0]}[]")
        array_params.append(columns[name][1])
    with connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO {table} (plan_id, agent_id, from_team_id, to_team_id, role, effective_date, state)
            SELECT %s, m.agent_id, m.from_team_id, m.to_team_id, {", ".join(selects)}
            FROM unnest({", ".join(arrays)}) AS m(agent_id, from_team_id, to_team_id{"".join(", " + v for v in varying)})
            ON CONFLICT (plan_id, agent_id) DO UPDATE SET
                from_team_id = EXCLUDED.from_team_id, to_team_id = EXCLUDED.to_team_id, role = EXCLUDED.role,
                effective_date = EXCLUDED.effective_date, state = EXCLUDED.state
            """,
            params + array_params,
        )


def _lock_teams(team_ids: Iterable[int]) -> None:
    """Serialise capacity decisions on the same teams across plans (always in id order)."""
    list(Team.objects.select_for_update().filter(pk__in=sorted(set(team_ids))).order_by("pk").values_list("pk"))


def _unique_ids(values: Iterable) -> list[int]:
    try:
        return list(dict.fromkeys(int(v) for v in values))
    except (TypeError, ValueError):
        raise ValidationError({"agents": [_("Agent ids must be numbers.")]}) from None


# --- suggestion ---------------------------------------------------------------------------------


@dataclass
class PlanSuggestion:
    """The solver's answer for the agents still awaiting a confirmed destination."""

    suggestion: Suggestion
    from_team: dict[int, int]
    teams: dict[int, Team]

    @property
    def agent_ids(self) -> list[int]:
        return sorted(self.from_team)

    def team_for(self, agent_id: int) -> Team | None:
        placement = self.suggestion.placements.get(agent_id)
        return self.teams[placement.team_id] if placement else None

    def explain(self, agent_id: int) -> str:
        return self.suggestion.explain(agent_id)


def _solver_inputs(
    plan: SunsetPlan, team_ids: list[int] | None
) -> tuple[list[AgentProfile], list[SeatPool], dict[int, int], dict[int, Team], str]:
    """The affected agents without a confirmed move, and the seats left after every confirmed
    move: exactly what the solver reads; and a digest of it (the same digest, the same answer)."""
    if team_ids is None:
        team_ids = affected_team_ids(plan)
    rows = list(
        with_move(affected_agents(plan, team_ids=team_ids), plan)
        .filter(Q(move_id__isnull=True) | Q(move_state=ReassignmentState.PROPOSED))
        .order_by("id")
        # Languages and skills come as JSON text, decoded once per distinct list: 100,000 agents
        # share a few thousand of them, and json.loads per row was a third of the read.
        .annotate(languages_json=Cast("languages", TextField()), skills_json=Cast("skills", TextField()))
        .values_list(
            "id", "name", "languages_json", "skills_json", "site", "time_zone", "preferred_team_id", "from_team_id"
        )
    )
    profiles: list[AgentProfile] = []
    from_team: dict[int, int] = {}
    decoded: dict[str | None, tuple[str, ...]] = {None: ()}

    def as_tuple(text: str | None) -> tuple[str, ...]:
        if text not in decoded:
            decoded[text] = tuple(json.loads(text) or ())
        return decoded[text]

    digest = hashlib.blake2b(digest_size=20)
    for row in rows:
        agent_id, name, languages, skills, site, zone, preferred, team_id = row
        profiles.append(AgentProfile(agent_id, name, as_tuple(languages), as_tuple(skills), site, zone, preferred))
        from_team[agent_id] = team_id
    # Everything the solver reads, as plain tuples (a dataclass's repr is ten times slower).
    digest.update(repr([row[:7] for row in rows]).encode())
    teams = {t.pk: t for t in destinations(plan)}
    pools = [
        SeatPool(
            t.pk, t.name, max(t.solver_free, 0), tuple(t.languages or ()), tuple(t.skills or ()), t.site, t.time_zone
        )
        for t in teams.values()
    ]
    digest.update(repr([tuple(p.__dict__.values()) for p in pools]).encode())
    return profiles, pools, from_team, teams, digest.hexdigest()


# Bump when the solver's answer for the same inputs changes, so no older answer is reused.
_SUGGESTION_VERSION = 2
_SUGGESTION_TTL = 3600


def _suggestion_key(plan: SunsetPlan, digest: str) -> str:
    return f"dusk:suggestion:v{_SUGGESTION_VERSION}:{plan.pk}:{digest}"


def _remember(key: str, suggestion: Suggestion) -> None:
    """Keep where each agent goes (not the wording) for accept_suggestion. The cache only saves
    a solve: it is never the source of truth, so a cache that is down is just a miss."""
    agent_ids = np.fromiter(suggestion.placements, dtype=np.int64, count=len(suggestion.placements))
    team_ids = np.fromiter(
        (p.team_id for p in suggestion.placements.values()), dtype=np.int64, count=len(suggestion.placements)
    )
    try:
        cache.set(key, (agent_ids.tobytes(), team_ids.tobytes(), tuple(suggestion.unplaced)), _SUGGESTION_TTL)
    except Exception:  # noqa: BLE001 - see the docstring
        log.warning("suggestion cache unavailable", exc_info=True)


def _recalled(key: str) -> tuple[dict[int, int], tuple[int, ...]] | None:
    try:
        found = cache.get(key)
    except Exception:  # noqa: BLE001 - a cache that is down is a miss
        log.warning("suggestion cache unavailable", exc_info=True)
        return None
    if found is None:
        return None
    agent_ids, team_ids, unplaced = found
    agents = np.frombuffer(agent_ids, dtype=np.int64).tolist()
    return dict(zip(agents, np.frombuffer(team_ids, dtype=np.int64).tolist(), strict=True)), unplaced


def suggest_destinations(*, plan: SunsetPlan | int, team_ids: list[int] | None = None) -> PlanSuggestion:
    """Run the solver over the affected agents without a confirmed move, on the seats left
    after every confirmed move. Writes nothing (the answer is remembered in the cache, keyed by
    a digest of the inputs, so that accepting it does not solve again)."""
    plan = plan if isinstance(plan, SunsetPlan) else SunsetPlan.objects.get(pk=plan)
    profiles, pools, from_team, teams, digest = _solver_inputs(plan, team_ids)
    suggestion = suggest_assignment(profiles, pools)
    _remember(_suggestion_key(plan, digest), suggestion)
    return PlanSuggestion(suggestion=suggestion, from_team=from_team, teams=teams)


@dataclass
class AcceptResult:
    accepted: int
    unplaced: list[str] = field(default_factory=list)
    not_waiting: int = 0


@transaction.atomic
def accept_suggestion(
    *,
    actor,
    plan: SunsetPlan | int,
    agent_ids: Sequence[int] | None = None,
    effective_date: date | None = None,
    role: str = "",
) -> AcceptResult:
    """Write the suggested destinations as proposed moves, for all agents or the chosen ones.
    The suggestion is checked again under the plan's lock, on current data: the solver's inputs
    are read again, and only if they differ from those of the last suggestion (or it is no
    longer in the cache) is it solved again."""
    require(actor, "manage_reassignments")
    plan = locked_plan(plan)
    effective_date = resolve_effective_date(plan, effective_date)
    role = _clean_role(role)
    profiles, pools, from_team, teams, digest = _solver_inputs(plan, None)
    key = _suggestion_key(plan, digest)
    wanted = sorted(from_team) if agent_ids is None else _unique_ids(agent_ids)
    if agent_ids is not None and not wanted:
        raise ValidationError({"agents": [_("Select at least one agent.")]})
    recalled = _recalled(key)
    if recalled is not None and not set(wanted).intersection(recalled[1]):
        to_team = recalled[0]
        unplaced: list[str] = []
    else:
        # Solve again: the inputs changed, the cache forgot, or someone needs the reason they
        # cannot be placed (which only a solve can word).
        planned = PlanSuggestion(suggest_assignment(profiles, pools), from_team, teams)
        _remember(key, planned.suggestion)
        to_team = {a: p.team_id for a, p in planned.suggestion.placements.items()}
        unplaced = [planned.explain(a) for a in wanted if a in from_team and a not in to_team]
    chosen = [a for a in wanted if a in to_team]
    not_waiting = sum(1 for a in wanted if a not in from_team)
    if not chosen:
        reasons = unplaced or [_("None of the selected agents is awaiting a destination.")]
        raise ValidationError({"agents": [_("No suggested seat to accept."), *reasons]})
    upsert_moves(
        plan,
        [
            MoveRow(agent_id, from_team[agent_id], to_team[agent_id], role, effective_date, ReassignmentState.PROPOSED)
            for agent_id in chosen
        ],
    )
    record_event(
        actor=actor,
        action="reassignments.suggestion_accepted",
        obj=plan,
        after={
            "agents": len(chosen),
            "to_teams": dict(Counter(str(to_team[a]) for a in chosen)),
            "effective_date": effective_date.isoformat(),
            "unplaced": len(unplaced),
        },
    )
    return AcceptResult(accepted=len(chosen), unplaced=unplaced, not_waiting=not_waiting)


# --- proposing moves: one rule for the board, the CSV import and the API --------------------------


@dataclass(frozen=True)
class MoveRequest:
    """One agent's move as a door received it. `to_team` is a team, its id or its name;
    no `effective_date` means the plan's hard-close day. `state` None proposes the move unless it
    is unchanged; "proposed" also takes back a confirmed move; "confirmed" confirms it."""

    agent_id: int
    to_team: Team | int | str
    effective_date: date | None = None
    role: str = ""
    state: str | None = None


@dataclass(frozen=True)
class MoveProblem:
    """Why moves were refused: `moves` are their positions in the request (empty when the
    problem is the request's as a whole), `field` the part of the move at fault."""

    moves: tuple[int, ...]
    field: str
    message: str


class MovesRefused(ValidationError):
    """Nothing was written; `problems` says why, move by move. Each door says where (a line of
    the file, an item of the request) but the words are the rule's."""

    def __init__(self, problems: list[MoveProblem]):
        self.problems = problems
        by_field: dict[str, list[str]] = {}
        for problem in problems:
            messages = by_field.setdefault(problem.field, [])
            if problem.message not in messages:  # ten agents sent to one unknown team: said once
                messages.append(problem.message)
        super().__init__(by_field)


@dataclass
class ProposedMoves:
    written: int
    unchanged: int


_STATES_ASKED = (None, ReassignmentState.PROPOSED, ReassignmentState.CONFIRMED)
# Up to this many agents the rows are read by id; beyond, the whole board is cheaper than a
# statement with tens of thousands of parameters.
_READ_BY_ID = 1000


def _agent_label(name: str, employee_id: str) -> str:
    return pgettext("agent", "%(name)s (%(id)s)") % {"name": name, "id": employee_id}


def _team_problem(to_team: Team | int | str) -> str:
    """Why `to_team` is not one of the plan's destinations."""
    if isinstance(to_team, Team):
        label = to_team.name
    elif isinstance(to_team, int) or str(to_team).strip().isdigit():
        known = Team.objects.filter(pk=int(to_team)).values_list("name", flat=True).first()
        if known is None:
            return _("There is no team with id %(id)s.") % {"id": int(to_team)}
        label = known
    else:
        label = (to_team or "").strip()
        if not label:
            return _("Choose a destination team.")
        if not Team.objects.filter(name__iexact=label).exists():
            return _("There is no team called “%(team)s”.") % {"team": label}
    return _("“%(team)s” cannot receive this plan's agents: it works a retiring channel.") % {"team": label}


def _resolve_teams(plan: SunsetPlan, wanted: Sequence[Team | int | str]) -> dict[object, Team | str]:
    """Each distinct `to_team` value -> its destination team, or the reason it is none."""
    teams = list(destination_teams(plan))
    by_id = {t.pk: t for t in teams}
    by_name = {t.name.strip().lower(): t for t in teams}
    found: dict[object, Team | str] = {}
    for value in wanted:
        key = _team_key(value)
        if key in found:
            continue
        if isinstance(value, Team):
            team = by_id.get(value.pk)
        elif isinstance(value, int) or str(value).strip().isdigit():
            team = by_id.get(int(value))
        else:
            team = by_name.get((value or "").strip().lower())
        found[key] = team if team is not None else _team_problem(value)
    return found


def _team_key(value: Team | int | str) -> object:
    if isinstance(value, Team):
        return ("id", value.pk)
    if isinstance(value, int) or str(value).strip().isdigit():
        return ("id", int(value))
    return ("name", (value or "").strip().lower())


def _board_rows(plan: SunsetPlan, agent_ids: list[int]) -> dict[int, dict]:
    rows = board_agents(plan, team_ids=affected_team_ids(plan))
    if len(agent_ids) <= _READ_BY_ID:
        rows = rows.filter(pk__in=agent_ids)
    return {
        row["id"]: row
        for row in rows.values(
            "id",
            "name",
            "employee_id",
            "languages",
            "is_active",
            "from_team_id",
            "move_state",
            "move_to_team_id",
            "move_role",
            "move_effective_date",
        )
    }


@transaction.atomic
def propose_moves(*, actor, plan: SunsetPlan | int, moves: Sequence[MoveRequest], source: str) -> ProposedMoves:
    """The one rule for giving affected agents a destination, whichever door the moves came
    through (`source`: "board", "csv", "api"; recorded in the audit event). Each move is checked:
    the agent is affected by the plan and active and has not already moved, the team is one of the
    plan's destinations, the agent speaks a language it requires, the role and effective date are
    valid; then every destination team must have a free seat for each agent not already headed
    there (counting every open plan's confirmed moves and this plan's proposed ones, and the seats
    this request frees). All or nothing: one refused move and nothing is written (MovesRefused)."""
    require(actor, "manage_reassignments")
    plan = locked_plan(plan)
    if not moves:
        raise MovesRefused([MoveProblem((), "agent", _("Select at least one agent."))])
    for move in moves:
        if move.state not in _STATES_ASKED:
            raise ValueError(f"a move is proposed or confirmed, not {move.state!r}")
    problems: list[MoveProblem] = []
    rows = _board_rows(plan, list(dict.fromkeys(m.agent_id for m in moves)))
    teams = _resolve_teams(plan, [m.to_team for m in moves])
    chosen = [t.pk for t in teams.values() if isinstance(t, Team)]
    _lock_teams(chosen)
    seats = {t.pk: t for t in destinations(plan, Team.objects.filter(pk__in=chosen))}  # read after the lock
    outsiders = {
        pk: _agent_label(name, employee_id)
        for pk, name, employee_id in Agent.objects.filter(
            pk__in=[m.agent_id for m in moves if m.agent_id not in rows]
        ).values_list("pk", "name", "employee_id")
    }
    hard_close = hard_close_date(plan)
    today = timezone.localdate()
    seen: set[int] = set()
    writes: list[tuple[int, dict, MoveRow]] = []  # position, agent row, the move to write
    unchanged = 0
    for position, move in enumerate(moves):

        def refuse(field_name: str, message: str, position=position) -> None:
            problems.append(MoveProblem((position,), field_name, message))

        row = rows.get(move.agent_id)
        if row is None:
            label = outsiders.get(move.agent_id, str(move.agent_id))
            refuse("agent", _("Not affected by this plan: %(agents)s.") % {"agents": label})
            continue
        label = _agent_label(row["name"], row["employee_id"])
        if move.agent_id in seen:
            refuse("agent", _("%(agent)s is given more than one destination.") % {"agent": label})
            continue
        seen.add(move.agent_id)
        team = teams[_team_key(move.to_team)]
        if not isinstance(team, Team):
            refuse("to_team", team)
            continue
        team = seats[team.pk]
        role = (move.role or "").strip()
        if len(role) > 80:
            refuse("role", _("Keep the role under 80 characters."))
            continue
        effective = move.effective_date or hard_close
        if effective is None:
            refuse("effective_date", _("This plan has no hard-close phase: give the effective date of the move."))
            continue
        same = (
            row["move_to_team_id"] == team.pk
            and (row["move_role"] or "") == role
            and row["move_effective_date"] == effective
        )
        asked = move.state or ReassignmentState.PROPOSED
        if same and (
            move.state is None
            or row["move_state"] == asked
            or (asked == ReassignmentState.CONFIRMED and row["move_state"] in ACTIVE_MOVE_STATES)
        ):
            unchanged += 1  # nothing to write, so nothing to refuse: an exported file imports back
            continue
        if row["move_state"] == ReassignmentState.DONE:
            refuse("agent", _("%(agent)s has already moved.") % {"agent": label})
            continue
        if effective < today and not same:
            refuse("effective_date", _("%(date)s is in the past.") % {"date": f"{effective:%Y-%m-%d}"})
            continue
        if not row["is_active"]:
            refuse("agent", _("%(agent)s is no longer active.") % {"agent": label})
            continue
        if not speaks_required(row["languages"] or (), team.languages or ()):
            if row["languages"]:
                problem = _(
                    "%(agent)s speaks %(spoken)s, but %(team)s requires %(required)s"
                    " (update the agent's languages if they are out of date)."
                )
            else:
                problem = _(
                    "%(agent)s speaks no recorded language, but %(team)s requires %(required)s"
                    " (update the agent's languages if they are out of date)."
                )
            values = {"agent": label, "spoken": ", ".join(row["languages"] or []), "team": team.name}
            refuse("agent", problem % {**values, "required": pgettext("languages", " or ").join(team.languages)})
            continue
        writes.append((position, row, MoveRow(row["id"], row["from_team_id"], team.pk, role, effective, asked)))
    if not problems:
        problems = _seat_problems(seats, writes)
    if problems:
        raise MovesRefused(sorted(problems, key=lambda p: p.moves[:1]))
    upsert_moves(plan, [move for _position, _row, move in writes])
    if writes:
        record_event(
            actor=actor,
            action="reassignments.assigned",
            obj=plan,
            before={"moves": {str(row["id"]): row["move_to_team_id"] for _p, row, _m in writes}},
            after={
                "source": source,
                "agents": [move.agent_id for _p, _r, move in writes],
                "to_teams": dict(Counter(str(move.to_team_id) for _p, _r, move in writes)),
                "states": dict(Counter(str(move.state) for _p, _r, move in writes)),
                "roles": sorted({move.role for _p, _r, move in writes}),
                "effective_dates": sorted({move.effective_date.isoformat() for _p, _r, move in writes}),
            },
        )
    return ProposedMoves(written=len(writes), unchanged=unchanged)


def _seat_problems(seats: dict[int, Team], writes: list[tuple[int, dict, MoveRow]]) -> list[MoveProblem]:
    """Teams that lack a seat for every agent arriving; an agent this request sends elsewhere
    gives back the seat their earlier move held."""
    arriving: dict[int, list[int]] = {}
    leaving: Counter[int] = Counter()
    for position, row, move in writes:
        if row["move_to_team_id"] == move.to_team_id:
            continue
        arriving.setdefault(move.to_team_id, []).append(position)
        if row["move_to_team_id"] is not None:
            leaving[row["move_to_team_id"]] += 1
    problems = []
    for team_id, positions in sorted(arriving.items(), key=lambda item: seats[item[0]].name):
        team = seats[team_id]
        free = max(team.free + leaving[team_id], 0)
        if len(positions) > free:
            message = ngettext(
                "%(team)s has %(free)s free seat of %(seats)s; %(arriving)s of the selected agents would need one.",
                "%(team)s has %(free)s free seats of %(seats)s; %(arriving)s of the selected agents would need one.",
                free,
            ) % {"team": team.name, "free": free, "seats": team.capacity, "arriving": len(positions)}
            problems.append(MoveProblem(tuple(positions), "to_team", message))
    return problems


@transaction.atomic
def assign_agents(
    *,
    actor,
    plan: SunsetPlan | int,
    agent_ids: Sequence[int],
    to_team: Team | int | str,
    effective_date: date | None = None,
    role: str = "",
    confirm: bool = False,
) -> int:
    """Send the chosen agents to one destination team (HR's hand edit on the board, one or many
    agents), under the one rule of `propose_moves`. Returns the number of moves written."""
    ids = _unique_ids(agent_ids)
    state = ReassignmentState.CONFIRMED if confirm else None
    moves = [MoveRequest(agent_id, to_team, effective_date, role, state) for agent_id in ids]
    return propose_moves(actor=actor, plan=plan, moves=moves, source="board").written


@transaction.atomic
def clear_destinations(*, actor, plan: SunsetPlan | int, agent_ids: Sequence[int]) -> int:
    """Take the destination away from the chosen agents (proposed or confirmed moves only: an
    agent who was already told keeps the move until HR gives another destination)."""
    require(actor, "manage_reassignments")
    plan = locked_plan(plan)
    ids = _unique_ids(agent_ids)
    if not ids:
        raise ValidationError({"agents": [_("Select at least one agent.")]})
    moves = Reassignment.objects.filter(plan=plan, agent_id__in=ids)
    told = list(
        moves.filter(state__in=[ReassignmentState.NOTIFIED, ReassignmentState.DONE])
        .order_by("agent__name")
        .values_list("agent__name", "state")
    )
    if told:
        names = ", ".join(f"{name} ({state})" for name, state in told)
        raise ValidationError(
            {
                "agents": [
                    _("These agents were already told or moved; give them another destination instead: %(agents)s.")
                    % {"agents": names}
                ]
            }
        )
    before = dict(moves.values_list("agent_id", "to_team_id"))
    count, _by_model = moves.delete()
    if count:
        record_event(
            actor=actor,
            action="reassignments.cleared",
            obj=plan,
            before={"moves": {str(k): v for k, v in before.items()}},
            after={"agents": sorted(before)},
        )
    return len(before)


@transaction.atomic
def confirm_moves(
    *,
    actor,
    plan: SunsetPlan | int,
    agent_ids: Sequence[int] | None = None,
    reassignment_ids: Sequence[int] | None = None,
) -> int:
    """Confirm proposed moves (all, or those of the chosen agents or ids). Refused, changing
    nothing, if a destination team would end up with more agents than seats."""
    require(actor, "manage_reassignments")
    plan = locked_plan(plan)
    qs = Reassignment.objects.filter(plan=plan, state=ReassignmentState.PROPOSED)
    if agent_ids is not None:
        qs = qs.filter(agent_id__in=_unique_ids(agent_ids))
    if reassignment_ids is not None:
        qs = qs.filter(pk__in=list(reassignment_ids))
    # Counted by the database: at 100,000 moves fetching one row per move cost more than the check.
    arriving = Counter(dict(qs.order_by().values("to_team_id").annotate(n=Count("id")).values_list("to_team_id", "n")))
    if arriving:
        _lock_teams(arriving)
        seats = {t.pk: t for t in destinations(plan, destination_teams(plan).filter(pk__in=list(arriving)))}
        errors = []
        for team in Team.objects.filter(pk__in=list(arriving)).order_by("name"):
            dest = seats.get(team.pk)
            if dest is None:
                errors.append(_("%(team)s works a retiring channel and cannot receive agents.") % {"team": team.name})
                continue
            confirmed = dest.incoming_confirmed + arriving[team.pk]
            if dest.occupied + confirmed > team.capacity:
                errors.append(
                    ngettext(
                        "%(team)s would be over capacity: %(now)s agents now + %(confirmed)s confirmed arrivals "
                        "for %(seats)s seat (%(over)s too many).",
                        "%(team)s would be over capacity: %(now)s agents now + %(confirmed)s confirmed arrivals "
                        "for %(seats)s seats (%(over)s too many).",
                        team.capacity,
                    )
                    % {
                        "team": team.name,
                        "now": dest.occupied,
                        "confirmed": confirmed,
                        "seats": team.capacity,
                        "over": dest.occupied + confirmed - team.capacity,
                    }
                )
        if errors:
            raise ValidationError({"to_team": errors})
    count = qs.update(state=ReassignmentState.CONFIRMED)
    record_event(actor=actor, action="reassignments.confirmed", obj=plan, after={"count": count})
    return count


# --- the guard ----------------------------------------------------------------------------------


def check_destinations(plan: SunsetPlan) -> None:
    """Refuse a plan while an affected agent has no confirmed destination or a destination team
    is over capacity; the error names every one of them."""
    problems = destination_problems(plan)
    if problems:
        raise ValidationError({"reassignments": problems.messages})


# --- telling the agents -----------------------------------------------------------------------------


@dataclass
class NotifyResult:
    queued: int
    requeued: int
    already: int
    unconfirmed: int
    without_email: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _NoticeMoment:
    """What an agent's email says about the plan when it is written: the day its channels retire
    (the first hard close, else the move's date) and whether they already have."""

    retire_on: date | None
    retired: bool


def _notice_moments(plan_ids: Iterable[int]) -> dict[int, _NoticeMoment]:
    """Per plan, its first hard-close day and whether every hard close ran: one query."""
    phases: dict[int, list[tuple[date, str]]] = {}
    for plan_id, local_date, state in (
        Phase.objects.filter(plan_id__in=list(plan_ids), kind=PhaseKind.HARD_CLOSE)
        .order_by("plan_id", "local_date", "id")
        .values_list("plan_id", "local_date", "state")
    ):
        phases.setdefault(plan_id, []).append((local_date, state))
    return {
        plan_id: _NoticeMoment(rows[0][0], all(state == PhaseState.COMPLETED for _d, state in rows))
        for plan_id, rows in phases.items()
    }


def _notice_channels(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], list[str]]:
    """(plan id, agent's retiring team id) -> the plan's channels that team works (by name), or
    every channel of the plan when the team works none of them any more: one query."""
    pairs = set(pairs)
    plan_ids = {plan_id for plan_id, _team in pairs}
    team_ids = {team_id for _plan, team_id in pairs}
    names: dict[tuple[int, int], list[str]] = {}
    every: dict[int, list[str]] = {}
    for plan_id, team_id, name in (
        PlanChannel.objects.filter(plan_id__in=plan_ids)
        .annotate(team_id=F("channel__teams__id"))
        .order_by("channel__name")
        .values_list("plan_id", "team_id", "channel__name")
    ):
        if name not in every.setdefault(plan_id, []):
            every[plan_id].append(name)
        if team_id in team_ids and name not in names.setdefault((plan_id, team_id), []):
            names[(plan_id, team_id)].append(name)
    return {pair: names.get(pair) or every.get(pair[0], []) for pair in pairs}


def _notice_text(
    *,
    agent: Agent,
    plan_title: str,
    channels: list[str],
    moment: _NoticeMoment | None,
    team: Team,
    role: str,
    effective: date,
    hr,
    link: str = "",
) -> tuple[str, str]:
    """The email's subject and body, in the agent's language (`notice_language`) and worded for
    the moment it is written: before the cutover the channels "will retire on" their day, after
    it they "have retired"."""
    with translation.override(agent_language(agent)):
        retire_on = (moment.retire_on if moment else None) or effective
        named = pgettext("channels", ", ").join(channels) or plan_title
        if moment is not None and moment.retired:
            retiring = ngettext(
                "The support channel you work on, %(channels)s, has retired.",
                "The support channels you work on (%(channels)s) have retired.",
                len(channels) or 1,
            ) % {"channels": named}
        else:
            retiring = ngettext(
                "The support channel you work on, %(channels)s, will retire on %(date)s.",
                "The support channels you work on (%(channels)s) will retire on %(date)s.",
                len(channels) or 1,
            ) % {"channels": named, "date": date_format(retire_on, "j F Y")}
        values = {"date": date_format(effective, "l j F Y"), "team": team.name, "role": role}
        joining = (
            _("From %(date)s you join %(team)s as %(role)s.") % values
            if role
            else _("From %(date)s you join %(team)s.") % values
        )
        where = _("Site: %(site)s · time zone: %(zone)s") % {
            "site": team.site or _("unchanged"),
            "zone": team.time_zone,
        }
        if team.languages:
            where += _(" · languages: %(languages)s") % {"languages": ", ".join(team.languages)}
        contact = (hr.get_full_name() or hr.get_username()) if hr else _("your HR coordinator")
        if hr and hr.email:
            contact += f" ({hr.email})"
        lines = [
            _("Hello %(name)s,") % {"name": agent.name},
            "",
            f"{plan_title}: {retiring}",
            joining,
            where,
            "",
            _("Questions? Reply to this email or contact %(contact)s.") % {"contact": contact},
        ]
        if link:
            lines += [
                "",
                _("Your page, to accept the move, ask a question and see your first-day checklist:"),
                link,
            ]
        subject = _("[Dusk] Your new team from %(date)s: %(team)s") % {
            "date": date_format(effective, "j F Y"),
            "team": team.name,
        }
    return subject, "\n".join(lines) + "\n"


@transaction.atomic
def notify_agents(*, actor, plan: SunsetPlan | int, agent_ids: Sequence[int] | None = None) -> NotifyResult:
    """Queue one email per agent with a confirmed move that has not been told about this exact
    decision (team, role, date). Refused until the plan is approved (`agent_emails_blocked`).
    Asking again sends nothing twice: the notice's unique key is the decision. The emails go out
    in batches from a worker (`send_agent_notices`), in each agent's language."""
    require(actor, "manage_reassignments")
    plan = locked_plan(plan, editable=False)
    blocked = agent_emails_blocked(plan)
    if blocked:
        raise InvalidTransition(blocked)
    moves = Reassignment.objects.filter(plan=plan)
    if agent_ids is not None:
        moves = moves.filter(agent_id__in=_unique_ids(agent_ids))
    unconfirmed = moves.filter(state=ReassignmentState.PROPOSED).count()
    active = list(moves.filter(state__in=ACTIVE_MOVE_STATES).select_related("agent", "to_team").order_by("id"))
    existing = set(
        AgentNotice.objects.filter(reassignment__in=[m.pk for m in active]).values_list(
            "reassignment_id", "to_team_id", "effective_date", "role"
        )
    )
    moment = _notice_moments([plan.pk]).get(plan.pk)
    channels = _notice_channels((plan.pk, m.from_team_id) for m in active)
    now = timezone.now()
    rows: list[AgentNotice] = []
    without_email: list[str] = []
    already = 0
    for move in active:
        if (move.pk, move.to_team_id, move.effective_date, move.role) in existing:
            already += 1
            continue
        if not move.agent.email:
            without_email.append(f"{move.agent.name} ({move.agent.employee_id})")
            continue
        subject, body = _notice_text(
            agent=move.agent,
            plan_title=plan.title,
            channels=channels[(plan.pk, move.from_team_id)],
            moment=moment,
            team=move.to_team,
            role=move.role,
            effective=move.effective_date,
            hr=actor,
            link=page_url(move_id=move.pk, agent_id=move.agent_id, secret=move.agent.page_secret, issued_at=now),
        )
        rows.append(
            AgentNotice(
                reassignment=move,
                plan=plan,
                agent_id=move.agent_id,
                to_team_id=move.to_team_id,
                role=move.role,
                effective_date=move.effective_date,
                recipient=move.agent.email,
                subject=subject[:200],
                body=body,
                requested_by=actor,
                created_at=now,
            )
        )
    AgentNotice.objects.bulk_create(rows, ignore_conflicts=True, batch_size=UPSERT_BATCH)
    # A failed email about the current decision goes out again (one about an older decision would
    # only be skipped): the same emails `selectors.moves_to_notify` counts for the confirmation.
    requeued = AgentNotice.objects.filter(
        reassignment__in=[m.pk for m in active],
        state=NoticeState.FAILED,
        to_team_id=F("reassignment__to_team_id"),
        effective_date=F("reassignment__effective_date"),
        role=F("reassignment__role"),
    ).update(state=NoticeState.PENDING, attempts=0, last_error="")
    record_event(
        actor=actor,
        action="agents.notices_queued",
        obj=plan,
        after={"queued": len(rows), "requeued": requeued, "already": already, "without_email": len(without_email)},
    )
    if rows or requeued:
        enqueue_on_commit(SEND_AGENT_NOTICES, plan.pk)
    return NotifyResult(
        queued=len(rows), requeued=requeued, already=already, unconfirmed=unconfirmed, without_email=without_email
    )


def _is_current(notice: AgentNotice) -> bool:
    move = notice.reassignment
    return (
        move.state in (*ACTIVE_MOVE_STATES, ReassignmentState.DONE)
        and move.to_team_id == notice.to_team_id
        and move.effective_date == notice.effective_date
        and move.role == notice.role
    )


def send_agent_notices(*, plan_id: int | None = None, batch_size: int | None = None) -> int:
    """Send pending agent notices in batches, one SMTP connection per batch. Claimed rows are
    marked first so two workers never send the same notice; a notice whose move changed since it
    was queued is skipped, not sent. Returns the number sent."""
    batch_size = batch_size or settings.DUSK_EMAIL_BATCH
    stale = timedelta(seconds=settings.DUSK_RUN_STUCK_AFTER)
    sent_total = 0
    last_id = 0  # one pass walks the queue once, so a refused email waits for the next pass
    while True:
        now = timezone.now()
        with transaction.atomic():
            todo = AgentNotice.objects.filter(
                Q(state=NoticeState.PENDING) | Q(state=NoticeState.SENDING, claimed_at__lt=now - stale)
            )
            if plan_id is not None:
                todo = todo.filter(plan_id=plan_id)
            todo = todo.filter(pk__gt=last_id)
            ids = list(
                todo.order_by("id").select_for_update(skip_locked=True).values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                return sent_total
            AgentNotice.objects.filter(pk__in=ids).update(
                state=NoticeState.SENDING, claimed_at=now, attempts=F("attempts") + 1
            )
        last_id = ids[-1]
        notices = list(
            AgentNotice.objects.filter(pk__in=ids)
            .select_related("reassignment", "requested_by", "agent", "to_team", "plan")
            .order_by("id")
        )
        current = [n for n in notices if _is_current(n)]
        outdated = [n.pk for n in notices if not _is_current(n)]
        # Worded now, for the moment it goes out: a notice queued before the cutover and sent
        # after it says the channels have retired. Stored again only where the words changed.
        moments = _notice_moments({n.plan_id for n in current})
        channels = _notice_channels((n.plan_id, n.reassignment.from_team_id) for n in current)
        reworded: dict[int, tuple[str, str]] = {}
        for notice in current:
            subject, body = _notice_text(
                agent=notice.agent,
                plan_title=notice.plan.title,
                channels=channels[(notice.plan_id, notice.reassignment.from_team_id)],
                moment=moments.get(notice.plan_id),
                team=notice.to_team,
                role=notice.role,
                effective=notice.effective_date,
                hr=notice.requested_by,
                link=page_url(
                    move_id=notice.reassignment_id,
                    agent_id=notice.agent_id,
                    secret=notice.agent.page_secret,
                    issued_at=notice.created_at,
                ),
            )
            if (subject[:200], body) != (notice.subject, notice.body):
                notice.subject, notice.body = subject[:200], body
                reworded[notice.pk] = (notice.subject, body)
        sent: list[int] = []
        refused: dict[int, str] = {}
        connection_error = ""
        try:
            with get_connection() as mail:
                for notice in current:
                    hr = notice.requested_by
                    email = EmailMessage(
                        subject=notice.subject,
                        body=notice.body,
                        to=[notice.recipient],
                        reply_to=[hr.email] if hr and hr.email else None,
                        headers={"Message-ID": notice.message_id},
                    )
                    try:
                        mail.send_messages([email])
                    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                        refused[notice.pk] = f"{type(exc).__name__}: {exc}"
                    else:
                        sent.append(notice.pk)
        except OSError as exc:  # the server went away: what was not sent goes back to the queue
            connection_error = f"{type(exc).__name__}: {exc}"
            log.warning("agent notices: %s", connection_error)
        unsent = [n for n in current if n.pk not in sent]
        with transaction.atomic():
            AgentNotice.objects.filter(pk__in=sent).update(state=NoticeState.SENT, sent_at=timezone.now())
            for pk in set(reworded) & set(sent):  # rare: only notices that crossed the cutover
                AgentNotice.objects.filter(pk=pk).update(subject=reworded[pk][0], body=reworded[pk][1])
            AgentNotice.objects.filter(pk__in=outdated).update(state=NoticeState.SKIPPED)
            for notice in unsent:
                error = refused.get(notice.pk, connection_error or "not sent")
                final = notice.attempts >= MAX_NOTICE_ATTEMPTS  # counted when claimed
                AgentNotice.objects.filter(pk=notice.pk).update(
                    state=NoticeState.FAILED if final else NoticeState.PENDING, last_error=error, claimed_at=None
                )
            # A move is "notified" once the email about its current decision went out.
            told = Reassignment.objects.filter(
                pk__in=[n.reassignment_id for n in notices if n.pk in sent], state=ReassignmentState.CONFIRMED
            ).filter(
                Exists(
                    AgentNotice.objects.filter(
                        reassignment_id=OuterRef("pk"),
                        to_team_id=OuterRef("to_team_id"),
                        effective_date=OuterRef("effective_date"),
                        role=OuterRef("role"),
                        state=NoticeState.SENT,
                    )
                )
            )
            notified = told.update(state=ReassignmentState.NOTIFIED)
            if sent or outdated or unsent:
                record_event(
                    actor=None,
                    actor_label="system:agent-notices",
                    action="agents.notified",
                    obj=None,
                    after={
                        "sent": len(sent),
                        "moves_notified": notified,
                        "skipped_outdated": len(outdated),
                        "not_sent": len(unsent),
                        "plans": sorted({n.plan_id for n in notices}),
                    },
                )
        sent_total += len(sent)
        if connection_error:
            return sent_total  # try again at the next sweep rather than hammer a dead server


# --- staffing inputs ----------------------------------------------------------------------------------

STAFFING_FIELDS = (
    "affected_share_threshold",
    "volume_window_days",
    "aht_seconds",
    "service_level_target",
    "answer_seconds",
    "shrinkage",
)
_RANGES = {
    # field: (low, high, low inclusive, high inclusive, message)
    "affected_share_threshold": (0.0, 1.0, True, False, gettext_lazy("Use a share from 0 up to (not including) 1.")),
    "volume_window_days": (1, 366, True, True, gettext_lazy("Use a number of days from 1 to 366.")),
    "aht_seconds": (1, 36000, True, True, gettext_lazy("Use seconds from 1 to 36000.")),
    "service_level_target": (0.0, 1.0, False, False, gettext_lazy("Use a share strictly between 0 and 1.")),
    "answer_seconds": (0, 3600, True, True, gettext_lazy("Use seconds from 0 to 3600.")),
    "shrinkage": (0.0, 1.0, True, False, gettext_lazy("Use a share from 0 up to (not including) 1.")),
}


@transaction.atomic
def update_staffing_inputs(*, actor, plan: SunsetPlan | int, **values) -> PlanStaffing:
    require(actor, "manage_reassignments")
    plan = locked_plan(plan, editable=False)
    unknown = set(values) - set(STAFFING_FIELDS)
    if unknown:
        message = ngettext("Unknown staffing input: %(names)s.", "Unknown staffing inputs: %(names)s.", len(unknown))
        raise ValidationError({"__all__": [message % {"names": ", ".join(sorted(unknown))}]})
    errors: dict[str, list[str]] = {}
    for name, value in values.items():
        low, high, low_in, high_in, text = _RANGES[name]
        ok = (
            value is not None
            and (value >= low if low_in else value > low)
            and (value <= high if high_in else value < high)
        )
        if not ok:
            errors[name] = [str(text)]
    if errors:
        raise ValidationError(errors)
    inputs, _created = PlanStaffing.objects.get_or_create(plan=plan)
    before = {f: getattr(inputs, f) for f in STAFFING_FIELDS}
    for name, value in values.items():
        setattr(inputs, name, value)
    inputs.updated_by = actor
    inputs.save()
    record_event(
        actor=actor,
        action="plan.staffing_inputs_updated",
        obj=plan,
        before=before,
        after={f: getattr(inputs, f) for f in STAFFING_FIELDS},
    )
    return inputs
