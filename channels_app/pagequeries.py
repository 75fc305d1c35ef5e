"""Shaped reads for the portal's pages. Each function costs a fixed number of
queries whatever the number of rows (pinned in tests/test_pages_queries.py)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import BooleanField, Count, ExpressionWrapper, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext

from .links import row_url
from .models import (
    Agent,
    Assignment,
    AuditEvent,
    Channel,
    Conversation,
    ConversationState,
    CutoverRun,
    Direction,
    Message,
    Phase,
    PhaseKind,
    PhaseState,
    PlanChannel,
    PlanState,
    Reassignment,
    ReassignmentState,
    RedirectTarget,
    RunState,
    Step,
    SunsetPlan,
    Team,
)
from .querysets import affected_assignments
from .services.cutover import CHANNEL_STATE_FOR_PHASE

TIMELINE_STATES = [PlanState.PENDING_APPROVAL, PlanState.SCHEDULED, PlanState.RUNNING]
WITH_DESTINATION = [ReassignmentState.PROPOSED, ReassignmentState.CONFIRMED, ReassignmentState.NOTIFIED]


# --- dashboard --------------------------------------------------------------------------


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


def needs_action(user, may: dict) -> dict:
    """What waits for this person: plans to approve, agents to place, drafts sent back.

    Each item carries its note already translated (the same messages the template used to
    translate row by row, which cost more than the rest of the list)."""
    out: dict = {}
    if may.get("approve_plan"):
        pending = SunsetPlan.objects.filter(state=PlanState.PENDING_APPROVAL).exclude(author=user)
        out["to_approve"] = list(
            pending.select_related("author").only("title", "author__username").order_by("submitted_at", "id")[:5]
        )
        for plan in out["to_approve"]:
            plan.note = gettext("by %(who)s") % {"who": plan.author.get_username()}
    if may.get("manage_reassignments"):
        counts = {pk: n for pk, n in unplaced_agents_by_plan().items() if n}
        out["unplaced"] = list(
            SunsetPlan.objects.filter(pk__in=list(counts)[:50]).only("title").order_by("title", "id")[:5]
        )
        for plan in out["unplaced"]:
            plan.unplaced = counts[plan.pk]
            plan.note = ngettext("%(n)s agent", "%(n)s agents", plan.unplaced) % {"n": plan.unplaced}
    if may.get("draft_plan"):
        out["my_drafts"] = list(
            SunsetPlan.objects.filter(author=user, state=PlanState.DRAFT)
            .only("title", "review_comment")
            .order_by("-updated_at", "-id")[:5]
        )
    return out


def channel_state_counts() -> dict[str, int]:
    return dict(Channel.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))


# --- channels -------------------------------------------------------------------------------------


def _open_conversations_subquery():
    return Coalesce(
        Subquery(
            Conversation.objects.filter(channel=OuterRef("pk"), state=ConversationState.OPEN)
            .order_by()
            .values("channel")
            .annotate(n=Count("id"))
            .values("n")[:1]
        ),
        0,
    )


def channels_for_list(*, q: str = "", kind: str = "", state: str = ""):
    qs = Channel.objects.all()
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(handle__icontains=q))
    if kind:
        qs = qs.filter(kind=kind)
    if state:
        qs = qs.filter(state=state)
    return (
        qs.annotate(open_conversations=_open_conversations_subquery())
        .prefetch_related(
            Prefetch(
                "plan_channels",
                queryset=PlanChannel.objects.filter(is_open=True).select_related("plan"),
                to_attr="open_plan_links",
            )
        )
        .order_by("name", "id")
    )


def channel_detail(pk: int) -> Channel:
    return Channel.objects.annotate(open_conversations=_open_conversations_subquery()).get(pk=pk)


def channel_plans(channel: Channel, limit: int = 20) -> list[SunsetPlan]:
    return list(
        SunsetPlan.objects.filter(plan_channels__channel=channel)
        .select_related("author")
        .prefetch_related(Prefetch("phases", queryset=Phase.objects.order_by("instant", "id")))
        .order_by("-created_at", "-id")[:limit]
    )


def channel_teams(channel: Channel, limit: int = 50) -> list[Team]:
    return list(
        channel.teams.annotate(
            agents_now=Count("assignments", filter=Q(assignments__ends_on__isnull=True), distinct=True)
        ).order_by("name")[:limit]
    )


@dataclass
class VolumeBar:
    at: datetime
    n: int
    x: int
    y: float
    height: float


@dataclass
class Volume:
    bars: list[VolumeBar]
    total: int
    last_hour: int


VOLUME_HEIGHT = 70


def inbound_volume(channel_id: int, *, now: datetime | None = None, hours: int = 24) -> Volume:
    """Inbound messages per hour over the last day, laid out as SVG bars: one query."""
    now = now or timezone.now()
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    rows = dict(
        Message.objects.filter(channel_id=channel_id, direction=Direction.INBOUND, received_at__gte=start)
        .annotate(hour=TruncHour("received_at", tzinfo=UTC))
        .values("hour")
        .annotate(n=Count("id"))
        .values_list("hour", "n")
    )
    counts = [(start + timedelta(hours=i), rows.get(start + timedelta(hours=i), 0)) for i in range(hours)]
    peak = max([1, *(n for _at, n in counts)])
    bars = []
    for i, (at, n) in enumerate(counts):
        height = max(round(VOLUME_HEIGHT * n / peak, 1), 2)
        bars.append(VolumeBar(at=at, n=n, x=i * 20, y=round(4 + VOLUME_HEIGHT - height, 1), height=height))
    return Volume(bars=bars, total=sum(n for _at, n in counts), last_hour=counts[-1][1])


# --- plans ----------------------------------------------------------------------------------------


def plan_for_page(pk: int) -> SunsetPlan:
    """A plan with everything its page shows, in a fixed number of queries."""
    return (
        SunsetPlan.objects.select_related("author", "approved_by")
        .prefetch_related(
            Prefetch("phases", queryset=Phase.objects.order_by("instant", "id")),
            Prefetch("channels", queryset=Channel.objects.order_by("name")),
            Prefetch("redirects", queryset=RedirectTarget.objects.order_by("position")),
            Prefetch("auto_replies"),
            Prefetch("runs", queryset=CutoverRun.objects.select_related("phase").order_by("-queued_at", "-id")),
        )
        .get(pk=pk)
    )


@dataclass
class PhaseEffect:
    phase: Phase
    channel_changes: list[tuple[Channel, str, str]]
    moves_conversations: bool
    closes_conversations: bool
    reassigns: bool


@dataclass
class PlanImpact:
    conversations_to_move: int
    customers_to_notify: int
    agents_affected: int
    agents_without_destination: int
    reassignments_by_state: dict[str, int]
    notifications: int
    phases: list[PhaseEffect]


def plan_impact(plan: SunsetPlan) -> PlanImpact:
    """What the plan will change (channels, conversations, customers, agents),
    from a plan loaded by plan_for_page: three queries."""
    channel_ids = [c.pk for c in plan.channels.all()]
    convs = Conversation.objects.filter(channel_id__in=channel_ids, state=ConversationState.OPEN).aggregate(
        n=Count("id"), customers=Count("customer_id", distinct=True)
    )
    affected = affected_assignments(plan)
    agents = Agent.objects.filter(pk__in=affected.values("agent_id")).aggregate(
        total=Count("id"),
        placed=Count(
            "id",
            filter=Q(reassignments__plan=plan, reassignments__state__in=WITH_DESTINATION),
            distinct=True,
        ),
    )
    by_state = dict(
        Reassignment.objects.filter(plan=plan).values_list("state").annotate(n=Count("id")).values_list("state", "n")
    )
    kinds = {p.kind for p in plan.phases.all()}
    effects = [
        PhaseEffect(
            phase=p,
            channel_changes=[
                (c, c.state, CHANNEL_STATE_FOR_PHASE[p.kind])
                for c in plan.channels.all()
                if c.state != CHANNEL_STATE_FOR_PHASE[p.kind]
            ],
            moves_conversations=p.kind == PhaseKind.HARD_CLOSE,
            closes_conversations=p.kind == PhaseKind.ARCHIVE,
            reassigns=p.kind == PhaseKind.HARD_CLOSE,
        )
        for p in plan.phases.all()
    ]
    movers = sum(by_state.get(s, 0) for s in WITH_DESTINATION) if PhaseKind.HARD_CLOSE in kinds else 0
    people = len({u.pk for u in (plan.author, plan.approved_by) if u is not None})
    return PlanImpact(
        conversations_to_move=convs["n"] if PhaseKind.HARD_CLOSE in kinds else 0,
        customers_to_notify=convs["customers"] if PhaseKind.HARD_CLOSE in kinds else 0,
        agents_affected=agents["total"],
        agents_without_destination=agents["total"] - agents["placed"],
        reassignments_by_state=by_state,
        notifications=movers + people * len(kinds),
        phases=effects,
    )


def plans_for_list(*, state: str = ""):
    qs = SunsetPlan.objects.for_list()
    if state:
        qs = qs.filter(state=state)
    return qs


# --- approvals: what changed since the last approval ---------------------------------------------


@dataclass
class Change:
    section: str
    item: str
    before: str
    after: str

    @property
    def kind(self) -> str:
        if not self.before:
            return "added"
        if not self.after:
            return "removed"
        return "changed"


def review_baseline(plan: SunsetPlan) -> tuple[str, dict | None, datetime | None]:
    """("approval" | "review" | "", snapshot, when): the last approved version
    if there is one, else the version submitted the time before. One query."""
    events = list(
        AuditEvent.objects.filter(
            object_type="sunsetplan", object_id=str(plan.pk), action__in=["plan.approved", "plan.submitted"]
        )
        .order_by("-id")
        .values("action", "after", "at")[:20]
    )
    for event in events:
        if event["action"] == "plan.approved" and (event["after"] or {}).get("snapshot"):
            return "approval", event["after"]["snapshot"], event["at"]
    submissions = [e for e in events if e["action"] == "plan.submitted" and (e["after"] or {}).get("snapshot")]
    if len(submissions) >= 2:
        return "review", submissions[1]["after"]["snapshot"], submissions[1]["at"]
    return "", None, None


def _fmt_phase(p: dict) -> str:
    region = f" [{p['region']}]" if p.get("region") else ""
    return f"{p['local']} {p['time_zone']}{region}"


def _fmt_redirect(r: dict) -> str:
    share = r.get("expected_share") or 0
    return f"{r['kind']}: {r['label']} — {r['value']} ({round(share * 100)}%)"


def diff_snapshots(before: dict, after: dict, channel_names: dict[int, str]) -> list[Change]:
    changes: list[Change] = []
    for key, label in (("title", "Title"), ("default_locale", "Default language")):
        if before.get(key) != after.get(key):
            changes.append(Change(label, "", str(before.get(key) or ""), str(after.get(key) or "")))
    old_ch, new_ch = set(before.get("channels") or []), set(after.get("channels") or [])
    for pk in sorted(new_ch - old_ch):
        changes.append(Change("Channels", channel_names.get(pk, f"#{pk}"), "", "included"))
    for pk in sorted(old_ch - new_ch):
        changes.append(Change("Channels", channel_names.get(pk, f"#{pk}"), "included", ""))

    def keyed(rows, key):
        return {key(r): r for r in rows or []}

    sections = (
        ("Phases", "phases", lambda p: f"{p['kind']}{' / ' + p['region'] if p.get('region') else ''}", _fmt_phase),
        ("Redirects", "redirects", lambda r: f"{r['kind']}: {r['label']}", _fmt_redirect),
        ("Auto-replies", "auto_replies", lambda a: f"{a['phase_kind']} / {a['locale']}", lambda a: a["text"]),
    )
    for section, key, name, fmt in sections:
        old, new = keyed(before.get(key), name), keyed(after.get(key), name)
        for item in list(dict.fromkeys([*old, *new])):
            a = fmt(old[item]) if item in old else ""
            b = fmt(new[item]) if item in new else ""
            if a != b:
                changes.append(Change(section, item, a, b))
    return changes


def approvals_queue():
    return SunsetPlan.objects.for_list().filter(state=PlanState.PENDING_APPROVAL).order_by("submitted_at", "id")


# --- runs -----------------------------------------------------------------------------------------


@dataclass
class StepProgress:
    key: str
    label: str
    state: str
    done: int
    total: int
    seconds: float | None

    @property
    def percent(self) -> int:
        if self.state == "done":
            return 100
        return int(100 * self.done / self.total) if self.total else 0


def _parse_iso(value) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def run_steps(run: CutoverRun, *, now: datetime | None = None) -> list[StepProgress]:
    now = now or timezone.now()
    out = []
    for step in Step:
        info = (run.steps or {}).get(step.value, {})
        started = _parse_iso(info.get("started_at"))
        finished = _parse_iso(info.get("finished_at"))
        seconds = None
        if started:
            seconds = ((finished or (now if run.state == RunState.RUNNING else started)) - started).total_seconds()
        out.append(
            StepProgress(
                key=step.value,
                label=step.label,
                state=info.get("state", "pending"),
                done=int(info.get("done") or 0),
                total=int(info.get("total") or 0),
                seconds=seconds,
            )
        )
    return out


def run_for_page(pk: int) -> CutoverRun:
    return CutoverRun.objects.select_related("plan", "phase").get(pk=pk)


# --- audit ----------------------------------------------------------------------------------------


def audit_events(*, obj: str = "", actor: str = "", action: str = "", since=None, until=None):
    qs = AuditEvent.objects.all()
    if obj:
        kind, _sep, pk = obj.partition(":")
        qs = qs.filter(object_type=kind.strip())
        if pk.strip():
            qs = qs.filter(object_id=pk.strip())
    if actor:
        qs = qs.filter(actor_label__iexact=actor.strip())
    if action:
        qs = qs.filter(action__startswith=action.strip())
    if since:
        qs = qs.filter(at__gte=since)
    if until:
        qs = qs.filter(at__lte=until)
    # Before/after are loaded when an event is opened (they can be large); the list only
    # needs to know whether there is anything to open.
    return (
        qs.defer("before", "after")
        .annotate(has_detail=ExpressionWrapper(~(_empty_json("before") & _empty_json("after")), BooleanField()))
        .order_by("-id")
    )


def _empty_json(name: str) -> Q:
    return Q(**{f"{name}__isnull": True}) | Q(**{name: {}})


@dataclass
class KeysetPage:
    """One page of a list read newest first by id: `newer` / `older` are the ids to ask the
    next pages from (None where there is none)."""

    object_list: list
    newer: int | None
    older: int | None

    @property
    def has_other_pages(self) -> bool:
        return self.newer is not None or self.older is not None


def keyset_page(queryset, *, size: int, before: int | None = None, after: int | None = None) -> KeysetPage:
    """The page of `queryset` (ordered by -id) just older than id `before`, or just newer
    than id `after`, or the newest. One query however deep the page: no count, no OFFSET,
    which an append-only table that only grows needs."""
    if after is not None:
        rows = list(queryset.filter(id__gt=after).order_by("id")[: size + 1])
        more = len(rows) > size
        rows = rows[:size][::-1]
        return KeysetPage(rows, rows[0].pk if more and rows else None, rows[-1].pk if rows else after + 1)
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    newer = rows[0].pk if before is not None and rows else None
    return KeysetPage(rows, newer, rows[-1].pk if more else None)
