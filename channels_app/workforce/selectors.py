"""Shaped reads for the workforce transition. Nothing here writes.

Definitions (docs/workforce.md says the same for HR):

* A team's **share of work** on a plan's retiring channels is the share of the inbound messages
  on its channels over the plan's volume window (default 28 days) that arrived on retiring
  channels; a team whose channels had no inbound message in the window is measured by channel
  count instead (2 of its 3 channels retiring = 0.67).
* A team is **affected** when that share exceeds the plan's threshold (default 0.5). A team that
  works only retiring channels always has a share of 1, so it is always affected.
* **Affected agents** are active agents with an open assignment on an affected team.
* **Destinations** are teams that work none of the plan's channels, minus teams whose every
  channel is being retired by an open plan (they are leaving too).
* A destination's **free seats** are its capacity minus its open assignments minus the confirmed
  moves into it from every open plan; the board also subtracts this plan's proposed moves.
"""

from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    CharField,
    Count,
    DateField,
    Exists,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, ExtractHour
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext

from channels_app.core.csvcells import DefusedWriter
from channels_app.models import (
    OPEN_PLAN_STATES,
    Agent,
    AgentAnswer,
    AgentDeparture,
    AgentMessage,
    AgentMessageKind,
    AgentNotice,
    AnswerKind,
    Assignment,
    Channel,
    ChannelState,
    ChecklistTick,
    CutoverRun,
    DepartureReason,
    Direction,
    Message,
    NoticeState,
    NotificationState,
    OnboardingItem,
    Phase,
    PhaseKind,
    PlanChannel,
    PlanStaffing,
    PlanState,
    Reassignment,
    ReassignmentState,
    RedirectKind,
    RedirectTarget,
    SunsetPlan,
    Team,
)
from channels_app.workforce.staffing.erlang import StaffingResult, agents_needed
from channels_app.workforce.staffing.solver import is_relocation, speaks_required

# Moves the cutover applies; a proposed move is a draft and applies nothing.
ACTIVE_MOVE_STATES = (ReassignmentState.CONFIRMED, ReassignmentState.NOTIFIED)
WITH_DESTINATION = [ReassignmentState.PROPOSED, ReassignmentState.CONFIRMED, ReassignmentState.NOTIFIED]

TeamChannel = Team.channels.through


def staffing_inputs(plan: SunsetPlan) -> PlanStaffing:
    """The plan's inputs, or an unsaved row holding the defaults."""
    return PlanStaffing.objects.filter(plan_id=plan.pk).first() or PlanStaffing(plan_id=plan.pk)


def hard_close_date(plan: SunsetPlan):
    """The first hard-close day (local date) of the plan, the default effective date of a move."""
    return (
        Phase.objects.filter(plan_id=plan.pk, kind=PhaseKind.HARD_CLOSE)
        .order_by("local_date")
        .values_list("local_date", flat=True)
        .first()
    )


# --- who is affected ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamWork:
    team_id: int
    name: str
    channels: int
    retiring_channels: int
    volume: int
    retiring_volume: int
    threshold: float

    @property
    def basis(self) -> str:
        return "volume" if self.volume else "channels"

    @property
    def share(self) -> float:
        if self.volume:
            return self.retiring_volume / self.volume
        return self.retiring_channels / self.channels if self.channels else 0.0

    @property
    def affected(self) -> bool:
        return self.share > self.threshold


def team_work(plan: SunsetPlan, *, inputs: PlanStaffing | None = None, now: datetime | None = None) -> list[TeamWork]:
    """Every team that works at least one of the plan's channels, with its share of work there.

    Two queries: the teams' channels (flagged retiring or not), then inbound volume per channel.
    """
    inputs = inputs or staffing_inputs(plan)
    now = now or timezone.now()
    retiring = PlanChannel.objects.filter(plan_id=plan.pk, channel_id=OuterRef("channel_id"))
    touching = TeamChannel.objects.filter(
        channel_id__in=PlanChannel.objects.filter(plan_id=plan.pk).values("channel_id")
    ).values("team_id")
    links = list(
        TeamChannel.objects.filter(team_id__in=touching)
        .annotate(retiring=Exists(retiring))
        .order_by("team__name", "team_id", "channel_id")
        .values_list("team_id", "team__name", "channel_id", "retiring")
    )
    volume = (
        dict(
            Message.objects.filter(
                channel_id__in={channel_id for _t, _n, channel_id, _r in links},
                direction=Direction.INBOUND,
                created_at__gte=now - timedelta(days=inputs.volume_window_days),
                created_at__lte=now,
            )
            .values("channel_id")
            .annotate(n=Count("id"))
            .values_list("channel_id", "n")
        )
        if links
        else {}
    )
    teams: dict[int, dict] = {}
    for team_id, name, channel_id, is_retiring in links:
        row = teams.setdefault(team_id, {"name": name, "channels": 0, "retiring": 0, "volume": 0, "rvolume": 0})
        row["channels"] += 1
        row["volume"] += volume.get(channel_id, 0)
        if is_retiring:
            row["retiring"] += 1
            row["rvolume"] += volume.get(channel_id, 0)
    return [
        TeamWork(
            team_id=team_id,
            name=row["name"],
            channels=row["channels"],
            retiring_channels=row["retiring"],
            volume=row["volume"],
            retiring_volume=row["rvolume"],
            threshold=inputs.affected_share_threshold,
        )
        for team_id, row in teams.items()
    ]


def affected_team_ids(plan: SunsetPlan, **kwargs) -> list[int]:
    return [work.team_id for work in team_work(plan, **kwargs) if work.affected]


def _open_on(team_ids: list[int]):
    return Assignment.objects.filter(agent_id=OuterRef("pk"), ends_on__isnull=True, team_id__in=team_ids)


def affected_agents(plan: SunsetPlan, *, team_ids: list[int] | None = None) -> QuerySet[Agent]:
    """Active agents with an open assignment on an affected team, annotated with
    `from_team_id` (their affected team; the lowest id if they are on several)."""
    if team_ids is None:
        team_ids = affected_team_ids(plan)
    open_here = _open_on(team_ids)
    return (
        Agent.objects.filter(is_active=True)
        .filter(Exists(open_here))
        .annotate(from_team_id=Subquery(open_here.order_by("team_id").values("team_id")[:1]))
    )


def with_move(agents: QuerySet[Agent], plan: SunsetPlan) -> QuerySet[Agent]:
    """Join each agent's move in this plan (at most one: a database constraint) as `move_*`."""
    return agents.annotate(
        move=FilteredRelation("reassignments", condition=Q(reassignments__plan_id=plan.pk)),
    ).annotate(
        move_id=F("move__id"),
        move_state=F("move__state"),
        move_to_team_id=F("move__to_team_id"),
        move_to_team_name=F("move__to_team__name"),
        move_to_team_site=F("move__to_team__site"),
        move_to_team_time_zone=F("move__to_team__time_zone"),
        move_role=F("move__role"),
        move_effective_date=F("move__effective_date"),
    )


@dataclass(frozen=True)
class Relocation:
    """A move to another site or time zone: where from and where to, naming only what changes
    ("Jakarta -> Dublin", or the zones when the site stays)."""

    from_site: str
    from_time_zone: str
    to_site: str
    to_time_zone: str

    def _places(self) -> tuple[str, str]:
        site_changes = bool(self.from_site and self.to_site) and self.from_site.strip().lower() != (
            self.to_site.strip().lower()
        )
        zone_changes = is_relocation("", self.from_time_zone, "", self.to_time_zone)
        if site_changes and zone_changes:
            return f"{self.from_site} ({self.from_time_zone})", f"{self.to_site} ({self.to_time_zone})"
        if site_changes:
            return self.from_site, self.to_site
        return self.from_time_zone, self.to_time_zone

    @property
    def from_place(self) -> str:
        return self._places()[0]

    @property
    def to_place(self) -> str:
        return self._places()[1]

    @property
    def label(self) -> str:
        """The label, e.g. "Relocation: Jakarta → Dublin", in the active language."""
        return _("Relocation: %(from)s → %(to)s") % {"from": self.from_place, "to": self.to_place}

    def as_dict(self) -> dict:
        return {
            "from_site": self.from_site,
            "from_time_zone": self.from_time_zone,
            "to_site": self.to_site,
            "to_time_zone": self.to_time_zone,
            "label": self.label,
        }


def relocation(agent_site: str, agent_time_zone: str, team_site: str | None, team_time_zone: str | None):
    """The Relocation a move to this team means for this agent, or None when they stay (the
    solver's rule, `staffing.solver.is_relocation`)."""
    if team_site is None and team_time_zone is None:
        return None
    if not is_relocation(agent_site, agent_time_zone, team_site or "", team_time_zone or ""):
        return None
    return Relocation(agent_site or "", agent_time_zone or "", team_site or "", team_time_zone or "")


def label_relocations(agents, *, suggested: bool = False) -> None:
    """Set `relocation` on each board row (its move's), and `suggested_relocation` when the row
    carries a `suggested_team`: what the board shows beside the destination."""
    for agent in agents:
        agent.relocation = (
            relocation(agent.site, agent.time_zone, agent.move_to_team_site, agent.move_to_team_time_zone)
            if getattr(agent, "move_to_team_id", None)
            else None
        )
        team = getattr(agent, "suggested_team", None) if suggested else None
        agent.suggested_relocation = (
            relocation(agent.site, agent.time_zone, team.site, team.time_zone) if team else None
        )


def board_agents(plan: SunsetPlan, *, team_ids: list[int]) -> QuerySet[Agent]:
    """The rows of the HR board: affected agents, plus anyone this plan already moves (a move
    stays visible after the cutover, when its agent is no longer on the retiring team)."""
    open_here = _open_on(team_ids)
    first = open_here.order_by("team_id")
    return (
        with_move(Agent.objects.all(), plan)
        .alias(affected=Exists(open_here))
        .filter(Q(is_active=True, affected=True) | Q(move__id__isnull=False))
        .annotate(
            from_team_id=Coalesce(
                F("move__from_team_id"), Subquery(first.values("team_id")[:1]), output_field=BigIntegerField()
            ),
            from_team_name=Coalesce(F("move__from_team__name"), Subquery(first.values("team__name")[:1])),
        )
    )


@dataclass(frozen=True)
class BoardCounts:
    agents: int
    confirmed: int
    proposed: int
    done: int
    without: int

    @property
    def unsettled(self) -> int:
        return self.agents - self.confirmed - self.done


def board_counts(rows: QuerySet[Agent]) -> BoardCounts:
    totals = rows.aggregate(
        agents=Count("id"),
        confirmed=Count("id", filter=Q(move_state__in=ACTIVE_MOVE_STATES)),
        proposed=Count("id", filter=Q(move_state=ReassignmentState.PROPOSED)),
        done=Count("id", filter=Q(move_state=ReassignmentState.DONE)),
        without=Count("id", filter=Q(move_id__isnull=True)),
    )
    return BoardCounts(**totals)


# --- where they can go ---------------------------------------------------------------------------


def destination_teams(plan: SunsetPlan) -> QuerySet[Team]:
    """Teams that can receive this plan's agents (without their seats; see `destinations`)."""
    retiring_here = PlanChannel.objects.filter(plan_id=plan.pk).values("channel_id")
    # A channel is closing while an open plan retires it, and closed once retired (or soft closed:
    # no new conversations): a team left with only such channels has no work to give anyone.
    closing = Channel.objects.filter(
        Q(pk__in=PlanChannel.objects.filter(is_open=True).values("channel_id"))
        | Q(state__in=[ChannelState.SOFT_CLOSED, ChannelState.RETIRED])
    ).values("pk")
    own_channels = TeamChannel.objects.filter(team_id=OuterRef("pk"))
    return (
        Team.objects.exclude(pk__in=TeamChannel.objects.filter(channel_id__in=retiring_here).values("team_id"))
        .exclude(Exists(own_channels) & ~Exists(own_channels.exclude(channel_id__in=closing)))
        .order_by("name", "id")
    )


def destinations(plan: SunsetPlan, teams: QuerySet[Team] | None = None) -> list[Team]:
    """Destination teams (or the given subset of them) with their seats as attributes:

    `occupied` open assignments; `incoming_confirmed` confirmed moves in from every open plan;
    `plan_confirmed` / `plan_proposed` / `plan_incoming` this plan's moves in, `other_confirmed`
    the other plans' confirmed moves in; `after` = occupied + others' confirmed + this plan's
    moves; `free` = capacity - after; `solver_free` = capacity - occupied - incoming_confirmed
    (the seats open to this plan's agents who have no confirmed move yet).

    Three queries whatever the size: the teams, then open assignments and moves counted with one
    GROUP BY each (correlated COUNT subqueries per team degrade badly on fresh, unanalysed rows).
    """
    teams = list(destination_teams(plan) if teams is None else teams)
    ids = [t.pk for t in teams]
    occupied = dict(
        Assignment.objects.filter(team_id__in=ids, ends_on__isnull=True)
        .order_by()
        .values("team_id")
        .annotate(n=Count("id"))
        .values_list("team_id", "n")
    )
    moves = (
        Reassignment.objects.filter(to_team_id__in=ids, plan__state__in=OPEN_PLAN_STATES)
        .exclude(state=ReassignmentState.DONE)
        .order_by()
        .values("to_team_id", "state", "plan_id")
        .annotate(n=Count("id"))
        .values_list("to_team_id", "state", "plan_id", "n")
    )
    confirmed: dict[int, int] = defaultdict(int)
    mine: dict[tuple[int, str], int] = defaultdict(int)
    for team_id, state, plan_id, n in moves:
        if state in ACTIVE_MOVE_STATES:
            confirmed[team_id] += n
        if plan_id == plan.pk:
            mine[(team_id, "confirmed" if state in ACTIVE_MOVE_STATES else state)] += n
    for team in teams:
        team.occupied = occupied.get(team.pk, 0)
        team.incoming_confirmed = confirmed[team.pk]
        team.plan_confirmed = mine[(team.pk, "confirmed")]
        team.plan_proposed = mine[(team.pk, ReassignmentState.PROPOSED)]
        team.plan_incoming = team.plan_confirmed + team.plan_proposed
        team.other_confirmed = team.incoming_confirmed - team.plan_confirmed
        team.after = team.occupied + team.incoming_confirmed + team.plan_proposed
        team.solver_free = team.capacity - team.occupied - team.incoming_confirmed
        team.free = team.capacity - team.after
    return teams


def board_destinations(plan: SunsetPlan) -> list[Team]:
    """The board's teams with their seats (as `destinations`): every destination, and any team
    this plan already sends agents to that is no longer one (`leaving`: its channels are closing
    too), so that what the guard counts is on the page. One query for the teams, whatever their
    number, and the two seat counts."""
    dest = destination_teams(plan)
    receiving = Reassignment.objects.filter(plan_id=plan.pk, state__in=WITH_DESTINATION).values("to_team_id")
    teams = (
        Team.objects.filter(Q(pk__in=dest.order_by().values("pk")) | Q(pk__in=receiving))
        .annotate(is_destination=Exists(dest.order_by().filter(pk=OuterRef("pk"))))
        .order_by("name", "id")
    )
    found = destinations(plan, teams)
    for team in found:
        team.leaving = not team.is_destination
        # The guard's capacity rule (destination_problems): confirmed arrivals of this plan into a
        # team already full of agents and other plans' confirmed arrivals.
        team.over_capacity = bool(team.plan_confirmed) and team.occupied + team.incoming_confirmed > team.capacity
    return found


# --- the submit guard ------------------------------------------------------------------------------


@dataclass
class DestinationProblems:
    agents: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.agents or self.teams)

    @property
    def messages(self) -> list[str]:
        return [*self.agents, *self.teams]


def destination_problems(plan: SunsetPlan) -> DestinationProblems:
    """Why the plan's people side is not ready: each affected agent without a confirmed
    destination, and each destination team that confirmed moves push over capacity."""
    problems = DestinationProblems()
    missing = (
        with_move(affected_agents(plan), plan)
        .filter(Q(move_id__isnull=True) | Q(move_state=ReassignmentState.PROPOSED))
        .order_by("name", "id")
        .values_list("name", "employee_id", "move_state", "move_to_team_name")
    )
    for name, employee_id, state, to_team in missing:
        label = pgettext("agent", "%(name)s (%(id)s)") % {"name": name, "id": employee_id}
        if state == ReassignmentState.PROPOSED:
            problems.agents.append(
                _("%(agent)s has only a proposed destination (%(team)s): confirm it or choose another.")
                % {"agent": label, "team": to_team}
            )
        else:
            problems.agents.append(_("%(agent)s has no destination.") % {"agent": label})
    receiving = Team.objects.filter(
        pk__in=Reassignment.objects.filter(plan_id=plan.pk, state__in=ACTIVE_MOVE_STATES).values("to_team_id")
    ).order_by("name")
    for team in destinations(plan, receiving):
        if team.occupied + team.incoming_confirmed > team.capacity:
            problems.teams.append(
                ngettext(
                    "%(team)s is over capacity: %(now)s agents now + %(confirmed)s confirmed arrivals "
                    "for %(seats)s seat (%(over)s too many).",
                    "%(team)s is over capacity: %(now)s agents now + %(confirmed)s confirmed arrivals "
                    "for %(seats)s seats (%(over)s too many).",
                    team.capacity,
                )
                % {
                    "team": team.name,
                    "now": team.occupied,
                    "confirmed": team.incoming_confirmed,
                    "seats": team.capacity,
                    "over": team.occupied + team.incoming_confirmed - team.capacity,
                }
            )
    return problems


# --- staffing check (Erlang C) ----------------------------------------------------------------------

# Which kinds of channel serve a redirect target when no channel's handle is the target's value.
CHANNEL_KINDS_FOR_REDIRECT = {
    RedirectKind.PHONE: ("phone",),
    RedirectKind.URL: ("web_form", "email"),
    RedirectKind.APP: ("chat",),
}


@dataclass
class QueueStaffing:
    """One redirect target's queue. `result` covers all its recorded load (its own inbound plus
    the redirected share) and is compared with `after`; `redirected_result` covers the redirected
    customers alone and is compared with the agents `arriving` from this plan, which matters when
    the queue's own load is not recorded in Dusk (a phone line, say)."""

    target: RedirectTarget
    channels: list[Channel]
    teams: list[Team]
    redirected_per_hour: float
    existing_per_hour: float
    result: StaffingResult | None
    redirected_result: StaffingResult | None
    before: int
    arriving: int
    after: int
    capacity: int

    @property
    def contacts_per_hour(self) -> float:
        return self.redirected_per_hour + self.existing_per_hour

    @property
    def needed(self) -> int:
        return self.result.agents if self.result else 0

    @property
    def needed_for_redirected(self) -> int:
        return self.redirected_result.agents if self.redirected_result else 0

    @property
    def arriving_short(self) -> int:
        return max(self.needed_for_redirected - self.arriving, 0)

    @property
    def shortfall(self) -> int:
        return max(self.needed - self.after, 0)

    @property
    def status(self) -> str:
        if not self.teams:
            return "no_team"
        return "short" if self.shortfall else "ok"


@dataclass
class StaffingReport:
    inputs: PlanStaffing
    window_days: int
    retiring_per_hour: float
    peak_hour_utc: int | None
    queues: list[QueueStaffing]
    destinations: list[Team]
    error: str = ""


def _serving_channels(target: RedirectTarget, candidates: list[Channel]) -> list[Channel]:
    value = target.value.strip().lower()
    exact = [c for c in candidates if c.handle.strip().lower() == value]
    if exact:
        return exact
    kinds = CHANNEL_KINDS_FOR_REDIRECT.get(target.kind, ())
    return [c for c in candidates if c.kind in kinds]


def staffing_check(plan: SunsetPlan, *, now: datetime | None = None) -> StaffingReport:
    """Agents each redirect target's queue needs once the plan's customers arrive, against the
    agents it will have after this plan's moves.

    Volume: inbound messages over the window, per hour of day (UTC). The hourly load of a queue is
    the busiest hour of (its own recorded inbound + expected_share x the retiring channels'
    inbound), averaged over the window's days. Erlang C then gives the agents needed for the
    service-level goal at the plan's handle time, grossed up for shrinkage.
    """
    now = now or timezone.now()
    inputs = staffing_inputs(plan)
    days = inputs.volume_window_days
    targets = list(RedirectTarget.objects.filter(plan_id=plan.pk).order_by("position"))
    retiring_ids = set(PlanChannel.objects.filter(plan_id=plan.pk).values_list("channel_id", flat=True))
    candidates = list(
        Channel.objects.exclude(pk__in=retiring_ids).exclude(state=ChannelState.RETIRED).order_by("name", "id")
    )
    teams = destinations(plan, destination_teams(plan).prefetch_related("channels"))
    served = {t.pk: _serving_channels(t, candidates) for t in targets}
    queue_channel_ids = {c.pk for chans in served.values() for c in chans}
    hourly: dict[int, list[int]] = defaultdict(lambda: [0] * 24)
    rows = (
        Message.objects.filter(
            channel_id__in=retiring_ids | queue_channel_ids,
            direction=Direction.INBOUND,
            created_at__gte=now - timedelta(days=days),
            created_at__lte=now,
        )
        .annotate(hour=ExtractHour("created_at"))
        .values("channel_id", "hour")
        .annotate(n=Count("id"))
        .values_list("channel_id", "hour", "n")
    )
    for channel_id, hour, n in rows:
        hourly[channel_id][hour] += n
    retiring_by_hour = [sum(hourly[c][h] for c in retiring_ids) for h in range(24)]
    peak = max(range(24), key=lambda h: retiring_by_hour[h]) if any(retiring_by_hour) else None
    report = StaffingReport(
        inputs=inputs,
        window_days=days,
        retiring_per_hour=(retiring_by_hour[peak] / days) if peak is not None else 0.0,
        peak_hour_utc=peak,
        queues=[],
        destinations=teams,
    )
    for target in targets:
        channels = served[target.pk]
        channel_ids = {c.pk for c in channels}
        queue_teams = [t for t in teams if any(c.pk in channel_ids for c in t.channels.all())]
        own_by_hour = [sum(hourly[c][h] for c in channel_ids) for h in range(24)]
        load = [own_by_hour[h] + target.expected_share * retiring_by_hour[h] for h in range(24)]
        busiest = max(range(24), key=lambda h: load[h])
        redirected = target.expected_share * retiring_by_hour[busiest] / days
        report.queues.append(
            QueueStaffing(
                target=target,
                channels=channels,
                teams=queue_teams,
                redirected_per_hour=redirected,
                existing_per_hour=own_by_hour[busiest] / days,
                result=_needed(load[busiest] / days, inputs),
                redirected_result=_needed(redirected, inputs),
                before=sum(t.occupied for t in queue_teams),
                arriving=sum(t.plan_incoming for t in queue_teams),
                after=sum(t.after for t in queue_teams),
                capacity=sum(t.capacity for t in queue_teams),
            )
        )
    return report


def _needed(per_hour: float, inputs: PlanStaffing) -> StaffingResult | None:
    if per_hour <= 0:
        return None
    return agents_needed(
        per_hour,
        inputs.aht_seconds,
        inputs.service_level_target,
        inputs.answer_seconds,
        interval_seconds=3600,
        shrinkage=inputs.shrinkage,
    )


# --- telling the agents ------------------------------------------------------------------------------

# Agents hear about their new team only once a second person approved the plan.
NOTIFY_PLAN_STATES = (PlanState.SCHEDULED, PlanState.RUNNING, PlanState.COMPLETED)
# The languages agents are written to in (the portal's); anyone else reads English.
NOTICE_LANGUAGES = ("en", "fr", "id")


def agent_emails_blocked(plan: SunsetPlan) -> str:
    """Why HR cannot email the plan's agents yet ("" when it can): the one rule the board's
    button, the confirmation, the service and the API share."""
    if plan.state in NOTIFY_PLAN_STATES:
        return ""
    return _("Agents can be emailed their new team once the plan is approved; “%(plan)s” is %(state)s.") % {
        "plan": plan.title,
        "state": PlanState(plan.state).label.lower(),
    }


def notice_language(languages) -> str:
    """The language an agent is written to in: the first they speak among the portal's (en, fr,
    id; a regional tag counts: fr-CA is fr), else English."""
    for code in languages or ():
        primary = str(code).strip().lower().replace("_", "-").split("-")[0]
        if primary in NOTICE_LANGUAGES:
            return primary
    return "en"


def agent_language(agent) -> str:
    """The language Dusk writes to this agent in (emails and their page): the one they chose
    (`preferred_language`), else the first they speak that the portal does (`notice_language`)."""
    return agent.preferred_language or notice_language(agent.languages)


def moves_to_notify(plan: SunsetPlan, agent_ids: list[int] | None = None) -> QuerySet[Reassignment]:
    """Confirmed (or notified) moves of the plan whose agent has an email address and has not been
    sent (or queued) an email about this exact decision (team, date, role), plus those whose email
    about it failed and will be queued again: the emails "Email agents" sends, counted on its
    confirmation and queued by `notify_agents`."""
    moves = Reassignment.objects.filter(plan_id=plan.pk, state__in=ACTIVE_MOVE_STATES).exclude(agent__email="")
    if agent_ids is not None:
        moves = moves.filter(agent_id__in=agent_ids)
    same_decision = AgentNotice.objects.filter(
        reassignment_id=OuterRef("pk"),
        to_team_id=OuterRef("to_team_id"),
        effective_date=OuterRef("effective_date"),
        role=OuterRef("role"),
    )
    return moves.filter(~Exists(same_decision) | Exists(same_decision.filter(state=NoticeState.FAILED)))


def affected_assignments(plan: SunsetPlan):
    """Open assignments on teams that work any of the plan's channels: one row per channel of the
    plan the team works (count distinct agents)."""
    return Assignment.objects.filter(ends_on__isnull=True, team__channels__plan_channels__plan=plan)


# --- outcomes: where the moved agents are 30, 60 and 90 days after their move --------------------------

OUTCOME_DAYS = (30, 60, 90)
IN_ROLE = "in_role"
MOVED_AGAIN = "moved_again"
NOT_YET = "not_yet"
NOT_RECORDED = "not_recorded"
# Why a moved agent left: HR's recorded reasons (DepartureReason), then "not recorded".
LEFT_REASONS = (*DepartureReason.values, NOT_RECORDED)
LEFT_REASON_LABELS = [*DepartureReason.choices, (NOT_RECORDED, gettext_lazy("No reason recorded"))]


def accepted_move_condition() -> Exists:
    """A condition on a move (an `Assignment` row the cutover created) that is true when the agent
    accepted it on their page: their answer on the plan's reassignment, about the team the move
    took them to (an answer about an earlier destination is no answer to this one)."""
    return Exists(
        AgentAnswer.objects.filter(
            reassignment__agent_id=OuterRef("agent_id"),
            reassignment__plan_id=OuterRef("created_by_run__plan_id"),
            about_team_id=OuterRef("team_id"),
            answer=AnswerKind.ACCEPTED,
        )
    )


@dataclass(frozen=True)
class Checkpoint:
    """One moved group's state on day `days` after each move took effect."""

    days: int
    moved: int
    in_role: int
    moved_again: int
    left: dict[str, int]  # reason (LEFT_REASONS) -> agents
    not_yet: int

    @property
    def reached(self) -> int:
        return self.moved - self.not_yet

    @property
    def left_total(self) -> int:
        return sum(self.left.values())

    @property
    def in_role_percent(self) -> int | None:
        return round(100 * self.in_role / self.reached) if self.reached else None


@dataclass(frozen=True)
class OutcomeRow:
    plan_id: int | None
    title: str
    moved: int
    accepted: int | None  # agents who accepted the move on their page (accepted_move_condition)
    checkpoints: list[Checkpoint]


@dataclass(frozen=True)
class OutcomeReport:
    today: date
    total: OutcomeRow
    plans: list[OutcomeRow]  # one row per plan that moved someone, oldest first


def moves(plan: SunsetPlan | None = None) -> QuerySet[Assignment]:
    """The moves: the assignments a cutover run started (a rollback deletes them again)."""
    rows = Assignment.objects.filter(created_by_run__isnull=False)
    return rows if plan is None else rows.filter(created_by_run__plan=plan)


def _state_on(days: int, today: date):
    """The move's state on day `days` after it took effect: not yet (that day is still to come),
    in role (an assignment on the move's team covers the day), moved again (another assignment
    does), else left, with the reason HR recorded for a departure between the move and that day
    (the latest), or "not recorded". An assignment covers a day when it started on or before it and
    ends after it; an open assignment of a deactivated agent covers nothing (the deactivation was
    not dated: record a departure to date it)."""
    outer_day = Cast(OuterRef("starts_on") + timedelta(days=days), DateField())
    covering = Assignment.objects.filter(agent_id=OuterRef("agent_id"), starts_on__lte=outer_day).filter(
        Q(ends_on__gt=outer_day) | Q(ends_on__isnull=True, agent__is_active=True)
    )
    reason = (
        AgentDeparture.objects.filter(
            agent_id=OuterRef("agent_id"), left_on__gte=OuterRef("starts_on"), left_on__lte=outer_day
        )
        .order_by("-left_on", "-id")
        .values("reason")[:1]
    )
    return Case(
        When(starts_on__gt=today - timedelta(days=days), then=Value(NOT_YET)),
        When(Exists(covering.filter(team_id=OuterRef("team_id"))), then=Value(IN_ROLE)),
        When(Exists(covering), then=Value(MOVED_AGAIN)),
        default=Coalesce(Subquery(reason), Value(NOT_RECORDED)),
        output_field=CharField(),
    )


# PostgreSQL: every move joined once to its agent's assignments (a hash join), each move's days
# aggregated in that one pass (covered by the move's team / by any team), then one row per move and
# day, counted by (plan, day, state). Only a move whose agent no team covers that day looks up
# HR's reason. Rows: (plan, title, day, state or leaving reason, moves). A correlated subquery per
# move and day measured about ten times slower at 100,000 moves.
_COVERS = (
    "x.starts_on <= m.starts_on + {days} AND (x.ends_on > m.starts_on + {days} OR (x.ends_on IS NULL AND m.is_active))"
)
_OUTCOMES_SQL = """
WITH m AS (
    SELECT a.id, a.agent_id, a.team_id, a.starts_on, r.plan_id, ag.is_active
    FROM {assignment} a
    JOIN {run} r ON r.id = a.created_by_run_id
    JOIN {agent} ag ON ag.id = a.agent_id
    WHERE a.created_by_run_id IS NOT NULL {plan_filter}
), s AS (
    SELECT m.id, m.agent_id, m.starts_on, m.plan_id, {aggregates}
    FROM m JOIN {assignment} x ON x.agent_id = m.agent_id
    GROUP BY m.id, m.agent_id, m.starts_on, m.plan_id
)
SELECT s.plan_id, p.title, n.days,
       CASE WHEN s.starts_on + n.days > %(today)s THEN 'not_yet'
            WHEN n.in_role THEN 'in_role'
            WHEN n.covered THEN 'moved_again'
            ELSE COALESCE(
                (SELECT dp.reason FROM {departure} dp
                 WHERE dp.agent_id = s.agent_id AND dp.left_on >= s.starts_on AND dp.left_on <= s.starts_on + n.days
                 ORDER BY dp.left_on DESC, dp.id DESC LIMIT 1),
                'not_recorded')
       END,
       count(*)
FROM s CROSS JOIN LATERAL (VALUES {days}) AS n(days, in_role, covered)
JOIN {plan} p ON p.id = s.plan_id
GROUP BY 1, 2, 3, 4
"""


def _counts_postgresql(plan: SunsetPlan | None, today: date) -> list[tuple]:
    quote = connection.ops.quote_name
    aggregates = ", ".join(
        f"bool_or(x.team_id = m.team_id AND {_COVERS.format(days=int(days))}) AS in_{days}, "
        f"bool_or({_COVERS.format(days=int(days))}) AS on_{days}"
        for days in OUTCOME_DAYS
    )
    sql = _OUTCOMES_SQL.format(
        assignment=quote(Assignment._meta.db_table),
        run=quote(CutoverRun._meta.db_table),
        agent=quote(Agent._meta.db_table),
        departure=quote(AgentDeparture._meta.db_table),
        plan=quote(SunsetPlan._meta.db_table),
        plan_filter="" if plan is None else "AND r.plan_id = %(plan)s",
        aggregates=aggregates,
        days=", ".join(f"({int(days)}, s.in_{days}, s.on_{days})" for days in OUTCOME_DAYS),
    )
    with transaction.atomic(), connection.cursor() as cur:
        # The estimate of a report over every move passes PostgreSQL's JIT threshold, and
        # compiling it cost more than running it (2.9 s of 3.3 s at 10,000 moves).
        cur.execute("SET LOCAL jit = off")
        cur.execute(sql, {"today": today, "plan": plan.pk if plan else None})
        return cur.fetchall()


def _counts_orm(plan: SunsetPlan | None, today: date) -> list[tuple]:
    """The same rows as _counts_postgresql, from the ORM (SQLite, the one-machine setup): the
    states per move in correlated subqueries, counted by (plan, state at 30, at 60, at 90)."""
    names = {days: f"at_{days}" for days in OUTCOME_DAYS}
    grouped = (
        moves(plan)
        .annotate(
            plan_id=F("created_by_run__plan_id"),
            plan_title=F("created_by_run__plan__title"),
            **{names[days]: _state_on(days, today) for days in OUTCOME_DAYS},
        )
        .values("plan_id", "plan_title", *names.values())
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[tuple, int] = defaultdict(int)
    for row in grouped:
        for days, name in names.items():
            counts[(row["plan_id"], row["plan_title"], days, row[name])] += row["n"]
    return [(*key, n) for key, n in counts.items()]


def _row(plan_id, title: str, counts: dict, moved: int, accepted: int | None) -> OutcomeRow:
    checkpoints = []
    for days in OUTCOME_DAYS:
        by_state = counts.get(days, {})
        checkpoints.append(
            Checkpoint(
                days=days,
                moved=moved,
                in_role=by_state.get(IN_ROLE, 0),
                moved_again=by_state.get(MOVED_AGAIN, 0),
                left={reason: by_state.get(reason, 0) for reason in LEFT_REASONS},
                not_yet=by_state.get(NOT_YET, 0),
            )
        )
    return OutcomeRow(plan_id=plan_id, title=title, moved=moved, accepted=accepted, checkpoints=checkpoints)


def outcome_report(
    plan: SunsetPlan | None = None, *, today: date | None = None, using_orm: bool = False
) -> OutcomeReport:
    """Moved, accepted and, at 30, 60 and 90 days after each move, still in role / moved again /
    left (by reason) / not yet reached: for one plan, or for every plan (with a row per plan).

    The states are computed and counted in the database, in one query (PostgreSQL; the ORM's
    version elsewhere, or with `using_orm`); acceptance, when recorded, is one more."""
    today = today or timezone.localdate()
    if connection.vendor == "postgresql" and not using_orm:
        rows = _counts_postgresql(plan, today)
    else:
        rows = _counts_orm(plan, today)
    per_plan: dict[int, dict] = {}
    titles: dict[int, str] = {}
    moved: dict[int, int] = defaultdict(int)
    for plan_id, title, days, state, n in rows:
        titles[plan_id] = title
        if days == OUTCOME_DAYS[0]:
            moved[plan_id] += n  # every move has one row per day
        by_state = per_plan.setdefault(plan_id, {}).setdefault(days, defaultdict(int))
        by_state[state] += n
    accepted_by_plan = dict(
        moves(plan)
        .filter(accepted_move_condition())
        .values("created_by_run__plan_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("created_by_run__plan_id", "n")
    )
    plan_rows = [
        _row(
            plan_id,
            titles[plan_id],
            per_plan.get(plan_id, {}),
            moved[plan_id],
            accepted_by_plan.get(plan_id, 0),
        )
        for plan_id in sorted(moved)
    ]
    total_counts: dict[int, dict] = {days: defaultdict(int) for days in OUTCOME_DAYS}
    for counts in per_plan.values():
        for days, by_state in counts.items():
            for state, n in by_state.items():
                total_counts[days][state] += n
    total = _row(
        plan.pk if plan is not None else None,
        plan.title if plan is not None else _("All plans"),
        total_counts,
        sum(moved.values()),
        sum(accepted_by_plan.values()),
    )
    return OutcomeReport(today=today, total=total, plans=plan_rows)


OUTCOME_CSV_COLUMNS = [
    "plan_id",
    "plan",
    "day",
    "moved",
    "accepted",
    "reached",
    "in_role",
    "in_role_percent",
    "moved_again",
    "left",
    *(f"left_{reason}" for reason in LEFT_REASONS),
    "not_yet_reached",
]


def outcomes_csv(report: OutcomeReport) -> str:
    """The report for a spreadsheet: UTF-8 with a byte-order mark (so Excel reads the accents),
    one row per plan and day, then the "All plans" rows when the report covers every plan; a cell
    that a spreadsheet would read as a formula (a plan titled "=1+1") is written as text.
    `accepted` is empty while Dusk records no acceptance."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = DefusedWriter(out)
    writer.writerow(OUTCOME_CSV_COLUMNS)
    rows = [*report.plans, report.total] if report.total.plan_id is None else [report.total]
    for row in rows:
        for cp in row.checkpoints:
            writer.writerow(
                [
                    row.plan_id or "",
                    row.title,
                    cp.days,
                    row.moved,
                    "" if row.accepted is None else row.accepted,
                    cp.reached,
                    cp.in_role,
                    "" if cp.in_role_percent is None else cp.in_role_percent,
                    cp.moved_again,
                    cp.left_total,
                    *(cp.left[reason] for reason in LEFT_REASONS),
                    cp.not_yet,
                ]
            )
    return out.getvalue()


# --- the agent's personal page ----------------------------------------------------------------------

# The moves an agent has a page for: confirmed (and so told, or about to be), and done.
PAGE_MOVE_STATES = (ReassignmentState.CONFIRMED, ReassignmentState.NOTIFIED, ReassignmentState.DONE)
_LINK_SALT = "dusk.agent-page"


class _IssuedAt(signing.TimestampSigner):
    """Django's timestamp signer, dated when the email carrying the link was written rather than
    when it is worded again: a notice re-rendered at sending time keeps the same link."""

    def __init__(self, *, issued_at: datetime, **kwargs):
        super().__init__(**kwargs)
        self._issued_at = issued_at

    def timestamp(self) -> str:
        return signing.b62_encode(int(self._issued_at.timestamp()))


def _secret_digest(secret: str) -> str:
    # The link carries a digest of the agent's secret, never the secret itself (a signed value
    # can be read by whoever holds it).
    return hashlib.sha256(f"dusk-agent-page:{secret}".encode()).hexdigest()[:20]


def page_token(*, move_id: int, agent_id: int, secret: str, issued_at: datetime) -> str:
    """The signed part of an agent's page link: this move, this agent, this generation of their
    secret, and when it was issued (the link expires DUSK_AGENT_LINK_MAX_AGE seconds later)."""
    if not secret:
        raise ValueError("the agent has no page secret")
    value = {"m": move_id, "a": agent_id, "k": _secret_digest(secret)}
    return _IssuedAt(issued_at=issued_at, salt=_LINK_SALT).sign_object(value, compress=False)


def page_url(*, move_id: int, agent_id: int, secret: str, issued_at: datetime) -> str:
    token = page_token(move_id=move_id, agent_id=agent_id, secret=secret, issued_at=issued_at)
    return settings.DUSK_PUBLIC_URL + reverse("agent_page", args=[token])


class LinkRefused(Exception):
    """Why a page link opens nothing: `reason` is "invalid" (tampered, or not a link), "expired"
    or "revoked" (HR sent a newer link, or the move is no longer one the agent has a page for)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def move_for_link(token: str) -> Reassignment:
    """The move a page link opens, or LinkRefused. The signature proves Dusk wrote the link; the
    digest that it is of the agent's current secret (rotating it revokes every earlier link); the
    move must still be this agent's, and confirmed, notified or done."""
    try:
        value = signing.TimestampSigner(salt=_LINK_SALT).unsign_object(
            token, max_age=timedelta(seconds=settings.DUSK_AGENT_LINK_MAX_AGE)
        )
    except signing.SignatureExpired:
        raise LinkRefused("expired") from None
    except (signing.BadSignature, ValueError, TypeError):
        raise LinkRefused("invalid") from None
    if not isinstance(value, dict) or not all(isinstance(value.get(k), t) for k, t in (("m", int), ("a", int))):
        raise LinkRefused("invalid")
    move = (
        Reassignment.objects.select_related("agent", "to_team__lead", "from_team", "plan")
        .filter(pk=value["m"], agent_id=value["a"], state__in=PAGE_MOVE_STATES)
        .first()
    )
    if move is None or not move.agent.page_secret:
        raise LinkRefused("revoked")
    if not constant_time_compare(str(value.get("k", "")), _secret_digest(move.agent.page_secret)):
        raise LinkRefused("revoked")
    return move


@dataclass
class Shift:
    start: time  # wall-clock times in `zone`, the agent's
    end: time
    zone: str
    other_day: bool  # the shift ends on the next day in the agent's zone


def shift_for(team: Team, agent_zone: str, on: date) -> Shift | None:
    """The team's shift on the agent's first day, in the agent's time zone (the team records its
    shift in its own zone)."""
    if team.shift_start is None or team.shift_end is None:
        return None
    team_zone, zone = ZoneInfo(team.time_zone or "UTC"), ZoneInfo(agent_zone or "UTC")
    start = datetime.combine(on, team.shift_start, tzinfo=team_zone)
    end = datetime.combine(on, team.shift_end, tzinfo=team_zone)
    if end <= start:
        end += timedelta(days=1)
    start, end = start.astimezone(zone), end.astimezone(zone)
    return Shift(start.time(), end.time(), agent_zone or "UTC", start.date() != end.date())


@dataclass
class AgentPage:
    move: Reassignment
    agent: Agent
    team: Team
    shift: Shift | None
    items: list[OnboardingItem]
    ticked: set[int]
    answer: AgentAnswer | None
    other_teams: list[Team]

    @property
    def done_items(self) -> int:
        return len([i for i in self.items if i.pk in self.ticked])

    @property
    def answer_is_current(self) -> bool:
        return self.answer is not None and self.answer.about_team_id == self.move.to_team_id


def other_teams_for(move: Reassignment) -> list[Team]:
    """The teams the agent may say they would prefer: the plan's destinations with a free seat
    whose languages the agent speaks, other than the one they are going to."""
    return [
        team
        for team in destinations(move.plan)
        if team.pk != move.to_team_id and team.free > 0 and speaks_required(move.agent.languages or (), team.languages)
    ]


def agent_page(move: Reassignment) -> AgentPage:
    """What the agent's page shows: only this move's own rows (the page never reads another
    agent's)."""
    items = list(OnboardingItem.objects.filter(team_id=move.to_team_id).order_by("position", "id"))
    ticked = set(move.ticks.values_list("item_id", flat=True))
    answer = AgentAnswer.objects.filter(reassignment=move).select_related("preferred_team", "about_team").first()
    return AgentPage(
        move=move,
        agent=move.agent,
        team=move.to_team,
        shift=shift_for(move.to_team, move.agent.time_zone, move.effective_date),
        items=items,
        ticked=ticked,
        answer=answer,
        other_teams=other_teams_for(move),
    )


# --- answers on the board and the plan page ---------------------------------------------------------


def last_reminder_offset() -> int | None:
    offsets = settings.DUSK_AGENT_REMINDER_OFFSETS
    return max(offsets) if offsets else None


def _answered(kind: str | None = None):
    # An answer about an earlier destination is no answer to the current one.
    answers = AgentAnswer.objects.filter(reassignment_id=OuterRef("move_id"), about_team_id=OuterRef("move_to_team_id"))
    return Exists(answers.filter(answer=kind) if kind else answers)


def _reminded_last(move: str = "move_id"):
    last = last_reminder_offset()
    if last is None:
        return Value(False, output_field=BooleanField())
    return Exists(
        AgentMessage.objects.filter(
            reassignment_id=OuterRef(move),
            kind=AgentMessageKind.REMINDER,
            key=f"reminder:{last}",
            state=NotificationState.SENT,
        )
    )


def answer_filters() -> dict[str, Q]:
    """The board's filters on the agents' answers (rows of `board_agents`)."""
    told = Q(move_state__in=PAGE_MOVE_STATES)
    return {
        "no_answer": told & ~_answered(),
        "concern": _answered(AnswerKind.CONCERN),
        "other_team": _answered(AnswerKind.OTHER_TEAM),
        "needs_conversation": told & ~_answered() & _reminded_last(),
    }


@dataclass
class BoardAnswer:
    answer: AgentAnswer | None
    current: bool  # the answer is about the move's current destination
    items: int
    ticked: int
    needs_conversation: bool


def board_answers(plan: SunsetPlan, move_ids: list[int]) -> dict[int, BoardAnswer]:
    """Each move's answer, checklist progress and whether it needs a conversation (the last
    reminder went out and the agent has not answered): one query for a page of the board."""
    if not move_ids:
        return {}
    items = OnboardingItem.objects.filter(team_id=OuterRef("to_team_id")).order_by().values("team_id")
    ticks = (
        ChecklistTick.objects.filter(reassignment_id=OuterRef("pk"), item__team_id=OuterRef("to_team_id"))
        .order_by()
        .values("reassignment_id")
    )
    moves = (
        Reassignment.objects.filter(plan_id=plan.pk, pk__in=move_ids)
        .select_related("answer__preferred_team", "answer__about_team")
        .annotate(
            n_items=Coalesce(Subquery(items.annotate(n=Count("id")).values("n")[:1]), 0),
            n_ticked=Coalesce(Subquery(ticks.annotate(n=Count("id")).values("n")[:1]), 0),
            reminded_last=_reminded_last("pk"),
        )
    )
    found = {}
    for move in moves:
        answer = getattr(move, "answer", None)  # a missing reverse one-to-one raises AttributeError
        current = answer is not None and answer.about_team_id == move.to_team_id
        found[move.pk] = BoardAnswer(
            answer=answer,
            current=current,
            items=move.n_items,
            ticked=move.n_ticked,
            needs_conversation=not current and bool(move.reminded_last),
        )
    return found


@dataclass(frozen=True)
class Acknowledgements:
    told: int
    accepted: int
    concerns: int
    other_team: int
    needs_conversation: int

    @property
    def no_answer(self) -> int:
        return self.told - self.accepted - self.concerns - self.other_team


def acknowledgements(plan: SunsetPlan) -> Acknowledgements:
    """The agents' answers over the plan's confirmed, notified and done moves: one query."""
    moves = Reassignment.objects.filter(plan_id=plan.pk, state__in=PAGE_MOVE_STATES)
    current = Q(answer__about_team_id=F("to_team_id"))
    totals = moves.aggregate(
        told=Count("id"),
        accepted=Count("id", filter=current & Q(answer__answer=AnswerKind.ACCEPTED)),
        concerns=Count("id", filter=current & Q(answer__answer=AnswerKind.CONCERN)),
        other_team=Count("id", filter=current & Q(answer__answer=AnswerKind.OTHER_TEAM)),
        needs_conversation=Count("id", filter=~current & _reminded_last("pk")),
    )
    return Acknowledgements(**totals)
