"""Reads of the dashboard: the timeline of sunsets and what waits for the reader."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace

from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext

from channels_app.core.links import row_url
from channels_app.cutover.selectors import failed_runs, runs_with_delivery_failures
from channels_app.models import (
    OPEN_PLAN_STATES,
    Assignment,
    NotificationState,
    OutboxState,
    Phase,
    PhaseKind,
    PhaseState,
    PlanChannel,
    PlanState,
    Reassignment,
    RunState,
    SunsetPlan,
    Team,
)
from channels_app.plans.selectors import OWNER_NOTICE_KINDS
from channels_app.workforce.selectors import ACTIVE_MOVE_STATES, WITH_DESTINATION

TIMELINE_STATES = [PlanState.PENDING_APPROVAL, PlanState.SCHEDULED, PlanState.RUNNING]


@dataclass
class TimelineMark:
    x: float
    css: str  # "mark phase-<kind> pstate-<state>"
    title: str  # "Hard close: 2026-10-01 00:00 PDT"


@dataclass
class TimelineBar:
    """One plan's row, with every text and number the SVG shows worked out here: the
    dashboard draws eight of them on every visit, and template filters per row cost more
    than the arithmetic."""

    href: str
    title: str
    state: str
    label: str
    y: int
    x1: float
    x2: float
    marks: list[TimelineMark] = field(default_factory=list)

    @property
    def line_y(self) -> int:
        return self.y + 8

    @property
    def label_at_end(self) -> bool:
        return self.x1 > TIMELINE_WIDTH * 0.6

    @property
    def label_x(self) -> float:
        return self.x2 if self.label_at_end else self.x1

    def svg(self) -> str:
        """The row's SVG: a link around its label, its bar and a circle per phase. Built here
        with format_html (escaped like the template would) because a template spends more on
        the twenty-odd variables of a row than on everything else of the timeline."""
        marks = format_html_join(
            "",
            '<circle class="{}" cx="{}" cy="{}" r="6"><title>{}</title></circle>',
            ((mark.css, mark.x, self.line_y, mark.title) for mark in self.marks),
        )
        return format_html(
            '<a href="{}"><title>{}</title><text class="bar-label{}" x="{}" y="{}">{}</text>'
            '<line class="bar plan-{}" x1="{}" y1="{}" x2="{}" y2="{}"/>{}</a>',
            self.href,
            self.title,
            " end" if self.label_at_end else "",
            self.label_x,
            self.y,
            self.label,
            self.state,
            self.x1,
            self.line_y,
            self.x2,
            self.line_y,
            marks,
        )


@dataclass
class Timeline:
    start: datetime
    end: datetime
    width: int
    height: int
    bars: list[TimelineBar]
    ticks: list[tuple[float, datetime]]
    now_x: float


TIMELINE_WIDTH = 1000
TIMELINE_LEFT = 0
ROW = 34


# How many phases a plan has at most in the common case (four kinds in two regions): the
# soonest-plans walk reads this many rows per plan wanted in one query.
PHASES_PER_PLAN = 8


def soonest_plan_ids(phases, limit: int) -> list[int]:
    """Ids of the first `limit` plans in the order of their earliest phase among `phases`
    (ties broken by phase id).

    Walks phases in (instant, id) order, which an index serves, a batch at a time, so the
    cost follows `limit`, not the number of plans: one query, unless the plans in front have
    more than PHASES_PER_PLAN phases each, which takes one more batch.
    """
    ids: dict[int, None] = {}
    rows_per_batch = limit * PHASES_PER_PLAN
    ordered = phases.order_by("instant", "id").values_list("instant", "id", "plan_id")
    after: tuple[datetime, int] | None = None
    while len(ids) < limit:
        batch = ordered
        if after is not None:
            batch = ordered.filter(Q(instant__gt=after[0]) | Q(instant=after[0], id__gt=after[1]))
        rows = list(batch[:rows_per_batch])
        for _instant, _id, plan_id in rows:
            ids.setdefault(plan_id)
            if len(ids) == limit:
                break
        if len(rows) < rows_per_batch:
            break
        after = rows[-1][:2]
    return list(ids)


def timeline(*, now: datetime, limit_plans: int = 8) -> Timeline | None:
    """Upcoming and running sunsets laid out for an SVG: one row per plan (the soonest
    `limit_plans`), one mark per phase. Two queries: the soonest plans, their phases."""
    shown = Phase.objects.filter(
        plan__state__in=TIMELINE_STATES,
        state__in=[PhaseState.PENDING, PhaseState.SCHEDULED, PhaseState.RUNNING, PhaseState.COMPLETED],
        instant__gte=now - timedelta(days=30),
    )
    plan_ids = soonest_plan_ids(shown, limit_plans)
    if not plan_ids:
        return None
    by_plan: dict[int, list[Phase]] = {pk: [] for pk in plan_ids}
    for phase in (
        shown.filter(plan_id__in=plan_ids)
        .select_related("plan")
        .only("plan_id", "kind", "state", "instant", "plan__title", "plan__state")
        .order_by("instant", "id")
    ):
        by_plan[phase.plan_id].append(phase)
    first = min(now, min(p.instant for ps in by_plan.values() for p in ps))
    last = max(p.instant for ps in by_plan.values() for p in ps)
    start = (first - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    end = last + max((last - start) * 0.08, timedelta(days=2))
    span = (end - start).total_seconds()

    def x(at: datetime) -> float:
        return round(TIMELINE_WIDTH * (at - start).total_seconds() / span, 1)

    bars = []
    for i, plan_phases in enumerate(by_plan.values()):
        plan = plan_phases[0].plan
        bars.append(
            TimelineBar(
                href=row_url("plan_detail", plan.pk),
                title=f"{plan.title} ({PlanState(plan.state).label})",
                state=plan.state,
                label=Truncator(plan.title).chars(70),
                y=28 + i * ROW,
                x1=x(plan_phases[0].instant),
                x2=max(x(plan_phases[-1].instant), x(plan_phases[0].instant) + 4),
                marks=[
                    TimelineMark(
                        x(p.instant),
                        f"mark phase-{p.kind} pstate-{p.state}",
                        f"{PhaseKind(p.kind).label}: {timezone.localtime(p.instant):%Y-%m-%d %H:%M %Z}",
                    )
                    for p in plan_phases
                ],
            )
        )
    days = (end - start).days or 1
    step = next(s for s in (1, 2, 7, 14, 30, 61, 91, 182, 365, 730) if days / s <= 8)
    ticks = []
    tick = start
    while tick <= end:
        if x(tick) <= TIMELINE_WIDTH - 60:  # room for the label
            ticks.append((x(tick), tick))
        tick += timedelta(days=step)
    return Timeline(start, end, TIMELINE_WIDTH, 40 + len(bars) * ROW, bars, ticks, x(now))


def needs_action(user, may: dict) -> dict:
    """What waits for this person: plans to approve, agents to place, drafts sent back.

    Each item carries its note already translated (the same messages the template used to
    translate row by row, which cost more than the rest of the list)."""
    out: dict = {}
    # Plans whose destination teams confirmed moves push over capacity: the guard refuses them, so
    # HR must act even when every agent is placed, and an approver sees the block before opening it.
    over = over_capacity_by_plan() if may.get("approve_plan") or may.get("manage_reassignments") else {}
    if may.get("approve_plan"):
        pending = SunsetPlan.objects.filter(state=PlanState.PENDING_APPROVAL).exclude(author=user)
        out["to_approve"] = list(
            pending.select_related("author").only("title", "author__username").order_by("submitted_at", "id")[:5]
        )
        for plan in out["to_approve"]:
            plan.note = gettext("by %(who)s") % {"who": plan.author.get_username()}
            plan.blocked = (
                gettext("Approval blocked: %(teams)s over capacity") % {"teams": ", ".join(over[plan.pk][1])}
                if plan.pk in over
                else ""
            )
    if may.get("manage_reassignments"):
        counts = {pk: n for pk, n in unplaced_agents_by_plan().items() if n}
        out["unplaced"] = list(
            SunsetPlan.objects.filter(pk__in=list(counts)[:50]).only("title").order_by("title", "id")[:5]
        )
        for plan in out["unplaced"]:
            plan.unplaced = counts[plan.pk]
            plan.note = ngettext("%(n)s agent", "%(n)s agents", plan.unplaced) % {"n": plan.unplaced}
        out["over_capacity"] = [
            SimpleNamespace(pk=pk, title=title, note=", ".join(teams)) for pk, (title, teams) in over.items()
        ]
    if may.get("manage_channels") or may.get("approve_plan"):
        # Runs that told the screen "done" but not every customer or agent: one query.
        out["undelivered"] = list(
            runs_with_delivery_failures().annotate(
                failed_handoffs=Count(
                    "outbox_messages",
                    filter=Q(outbox_messages__state__in=[OutboxState.FAILED, OutboxState.SKIPPED]),
                    distinct=True,
                ),
                failed_emails=Count(
                    "notifications",
                    filter=Q(notifications__state=NotificationState.FAILED)
                    & ~Q(notifications__kind__in=OWNER_NOTICE_KINDS),
                    distinct=True,
                ),
            )[:5]
        )
        for run in out["undelivered"]:
            failed = run.failed_handoffs + run.failed_emails
            run.note = ngettext("%(n)s message not delivered", "%(n)s messages not delivered", failed) % {"n": failed}
        out["failed_runs"] = list(failed_runs()[:5])
        for run in out["failed_runs"]:
            run.note = RunState(run.state).label
    if may.get("draft_plan"):
        out["my_drafts"] = list(
            SunsetPlan.objects.filter(author=user, state=PlanState.DRAFT)
            .only("title", "review_comment")
            .order_by("-updated_at", "-id")[:5]
        )
    return out


def over_capacity_by_plan(
    plan_states=(PlanState.DRAFT, PlanState.PENDING_APPROVAL, PlanState.SCHEDULED), *, soonest: int = 10
) -> dict[int, tuple[str, list[str]]]:
    """plan id -> (title, names of its destination teams over capacity), for the `soonest` open
    plans: the guard's rule (workforce.selectors.destination_problems: open assignments +
    confirmed arrivals from every open plan > seats), in three queries whatever the size."""
    plan_ids = soonest_plan_ids(Phase.objects.filter(plan__state__in=plan_states), soonest)
    if not plan_ids:
        return {}
    a = connection.ops.quote_name
    reassignment, plan_table = a(Reassignment._meta.db_table), a(SunsetPlan._meta.db_table)
    marks = lambda values: ", ".join(["%s"] * len(values))  # noqa: E731
    # The moves reduced to their (plan, destination team) pairs first, then each of those teams'
    # seats counted once, by team ids the planner can see: a plan moving a thousand agents into
    # forty teams counts forty teams (one correlated count per move read every team's rows once
    # per agent moved into it, and its cost estimate alone switched PostgreSQL's JIT on).
    with connection.cursor() as cur:
        cur.execute(
            f"""
            SELECT DISTINCT p.id, p.title, t.id, t.name, t.capacity
            FROM {reassignment} r
            JOIN {plan_table} p ON p.id = r.plan_id
            JOIN {a(Team._meta.db_table)} t ON t.id = r.to_team_id
            WHERE r.plan_id IN ({marks(plan_ids)}) AND r.state IN ({marks(WITH_DESTINATION)})
            ORDER BY p.title, p.id, t.name
            """,
            [*plan_ids, *WITH_DESTINATION],
        )
        pairs = cur.fetchall()
        # Asked even when there is no pair (IN (NULL) matches nothing): the dashboard costs the
        # same number of queries whatever its plans hold.
        team_ids = sorted({row[2] for row in pairs}) or [None]
        cur.execute(
            f"""
            SELECT asg.team_id, COUNT(*) FROM {a(Assignment._meta.db_table)} asg
            WHERE asg.team_id IN ({marks(team_ids)}) AND asg.ends_on IS NULL
            GROUP BY asg.team_id
            UNION ALL
            SELECT r.to_team_id, COUNT(*) FROM {reassignment} r JOIN {plan_table} p ON p.id = r.plan_id
            WHERE r.to_team_id IN ({marks(team_ids)}) AND r.state IN ({marks(ACTIVE_MOVE_STATES)})
              AND p.state IN ({marks(OPEN_PLAN_STATES)})
            GROUP BY r.to_team_id
            """,
            [*team_ids, *team_ids, *ACTIVE_MOVE_STATES, *OPEN_PLAN_STATES],
        )
        seats_taken: dict[int, int] = defaultdict(int)
        for team_id, n in cur.fetchall():
            seats_taken[team_id] += n
    out: dict[int, tuple[str, list[str]]] = {}
    for plan_id, title, team_id, team_name, capacity in pairs:
        if seats_taken[team_id] > capacity:
            names = out.setdefault(plan_id, (title, []))[1]
            if team_name not in names:
                names.append(team_name)
    return out


def unplaced_agents_by_plan(
    plan_states=(PlanState.DRAFT, PlanState.PENDING_APPROVAL, PlanState.SCHEDULED), *, soonest: int = 10
):
    """plan id -> number of affected agents without a destination, for the
    `soonest` open plans (by their first phase): the same rule as
    querysets.preview_phase, for many plans in two queries whose cost does not
    grow with the number of plans."""
    plan_ids = soonest_plan_ids(Phase.objects.filter(plan__state__in=plan_states), soonest)
    if not plan_ids:
        return {}
    a = connection.ops.quote_name
    sql = f"""
        SELECT pc.plan_id, COUNT(DISTINCT asg.agent_id)
        FROM {a(PlanChannel._meta.db_table)} pc
        JOIN {a(Team.channels.through._meta.db_table)} tc ON tc.channel_id = pc.channel_id
        JOIN {a(Assignment._meta.db_table)} asg ON asg.team_id = tc.team_id AND asg.ends_on IS NULL
        WHERE pc.plan_id IN ({", ".join(["%s"] * len(plan_ids))}) AND NOT EXISTS (
            SELECT 1 FROM {a(Reassignment._meta.db_table)} r
            WHERE r.plan_id = pc.plan_id AND r.agent_id = asg.agent_id AND r.state IN (%s, %s, %s))
        GROUP BY pc.plan_id
    """
    with connection.cursor() as cur:
        cur.execute(sql, [*plan_ids, *WITH_DESTINATION])
        return dict(cur.fetchall())
