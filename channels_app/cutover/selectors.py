"""Reads of the cutover: a phase's preview and dry run, run progress, the watchdog's figures."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, prefetch_related_objects
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.translation import ngettext_lazy

from channels_app.core import textrules
from channels_app.directory.selectors import inbound_volume
from channels_app.models import (
    FINISHED_RUN_STATES,
    STEP_ORDER,
    Assignment,
    Channel,
    Conversation,
    ConversationState,
    CutoverRun,
    Heartbeat,
    LandingVisit,
    Message,
    Notification,
    NotificationState,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Phase,
    PhaseKind,
    PhaseState,
    PlanChannel,
    PlanState,
    Publication,
    Reassignment,
    ReassignmentState,
    RunState,
    Step,
    Team,
    VisitKind,
)
from channels_app.plans.selectors import (
    CHANNEL_STATE_FOR_PHASE,
    OWNER_NOTICE_KINDS,
    DeliveryCounts,
    pick_auto_reply,
    placeholder_values,
    run_delivery_counts,
)
from channels_app.platforms.selectors import (
    PlannedChange,
    planned_public_changes,
    reply_length_rule,
    run_public_changes,
)
from channels_app.workforce.selectors import ACTIVE_MOVE_STATES, affected_agents


def phase_channel_ids(phase: Phase) -> list[int]:
    """The channels a phase acts on: all of the plan's, or its region's."""
    qs = PlanChannel.objects.filter(plan_id=phase.plan_id)
    if phase.region:
        qs = qs.filter(region=phase.region)
    return list(qs.values_list("channel_id", flat=True))


def phase_reassignments(phase: Phase, channel_ids: list[int]):
    """Confirmed moves a phase applies: in a follow-the-sun plan, only those of
    agents leaving teams that work the region's channels."""
    qs = Reassignment.objects.filter(plan_id=phase.plan_id, state__in=ACTIVE_MOVE_STATES)
    if phase.region:
        qs = qs.filter(from_team_id__in=Team.objects.filter(channels__in=channel_ids).values("id"))
    return qs


@dataclass
class PhasePreview:
    phase: Phase
    channel_ids: list[int] = field(default_factory=list)
    channel_changes: list[tuple[Channel, str, str]] = field(default_factory=list)
    conversations_to_move: int = 0
    conversations_to_close: int = 0
    handoff_notices: int = 0
    reassignments: list[Reassignment] = field(default_factory=list)
    agents_without_destination: int = 0
    notifications: int = 0
    # What the phase changes on the platforms themselves (the public notice), in order.
    public_changes: list[PlannedChange] = field(default_factory=list)


def affected_agent_ids_for_phase(phase: Phase):
    """Agents with an open assignment on a team that works the phase's channels."""
    return (
        Assignment.objects.filter(ends_on__isnull=True, team__channels__in=phase_channel_ids(phase))
        .values("agent_id")
        .distinct()
    )


def preview_phase(phase: Phase) -> PhasePreview:
    plan = phase.plan
    channel_ids = phase_channel_ids(phase)
    channels = list(Channel.objects.filter(pk__in=channel_ids).order_by("name"))
    target = CHANNEL_STATE_FOR_PHASE[phase.kind]
    preview = PhasePreview(phase=phase, channel_ids=channel_ids)
    preview.channel_changes = [(c, c.state, target) for c in channels if c.state != target]
    open_count = Conversation.objects.filter(channel__in=channels, state=ConversationState.OPEN).count()
    recipients = {u.email for u in (plan.author, plan.approved_by) if u is not None and u.email}
    if phase.kind == PhaseKind.HARD_CLOSE:
        preview.conversations_to_move = open_count
        preview.handoff_notices = open_count
        preview.reassignments = list(
            phase_reassignments(phase, channel_ids)
            .select_related("agent", "from_team", "to_team")
            .order_by("agent__name", "id")
        )
        with_destination = Reassignment.objects.filter(
            plan=plan, state__in=[*ACTIVE_MOVE_STATES, ReassignmentState.PROPOSED]
        ).values("agent_id")
        # Affected as the HR board defines it (workforce_queries: share of work over a threshold).
        preview.agents_without_destination = affected_agents(plan).exclude(pk__in=with_destination).count()
        recipients |= {r.agent.email for r in preview.reassignments if r.agent.email}
    elif phase.kind == PhaseKind.ARCHIVE:
        preview.conversations_to_close = open_count
    preview.notifications = len(recipients)
    if plan.public_notices.exists():
        preview.public_changes = planned_public_changes(plan, phase.kind, channels)
    return preview


@dataclass
class DryRunConversation:
    conversation: Conversation
    locale: str
    text: str
    length_rule: str = ""  # the textrules rule the notice must fit ("x_dm": an X direct message)
    length: int = 0
    limit: int | None = None

    @property
    def direct_message(self) -> bool:
        return self.length_rule == "x_dm"

    @property
    def over(self) -> bool:
        return self.limit is not None and self.length > self.limit


@dataclass
class DryRun:
    """Everything a phase would change and send, item by item."""

    preview: PhasePreview
    conversations: list[DryRunConversation]
    conversations_total: int
    emails: list[tuple[str, str]]  # (recipient, subject)
    # What the phase changes on the platforms themselves (the public notice), in order.
    public_changes: list[PlannedChange] = field(default_factory=list)


def dry_run(phase: Phase, *, limit: int | None = None, offset: int = 0) -> DryRun:
    """Read-only: the exact conversations (with the rendered hand-off notice),
    agent moves and emails a phase would produce. `limit`/`offset` page the
    conversation list, which can be long."""
    plan = phase.plan
    preview = preview_phase(phase)
    replies = list(plan.auto_replies.all())
    conversations: list[DryRunConversation] = []
    total = 0
    if phase.kind == PhaseKind.HARD_CLOSE:
        qs = (
            Conversation.objects.filter(channel_id__in=preview.channel_ids, state=ConversationState.OPEN)
            .select_related("channel")
            .order_by("id")
        )
        total = preview.conversations_to_move
        page = qs[offset : offset + limit] if limit is not None else qs[offset:]
        base: dict[str, dict[str, str]] = {}  # the reply's locale -> its placeholder values
        prefetch_related_objects([plan], "redirects", "phases")  # read once for every locale
        for conv in page:
            locale = conv.locale or plan.default_locale
            reply = pick_auto_reply(replies, phase.kind, locale, plan.default_locale)
            text = ""
            if reply is not None:
                if reply.locale not in base:
                    base[reply.locale] = placeholder_values(plan, locale=reply.locale)
                text = textrules.render(
                    reply.text,
                    {
                        **base[reply.locale],
                        "customer_name": conv.customer_name or conv.customer_handle,
                        "reference": conv.reference,
                        "channel": conv.channel.name,
                    },
                )
            rule = reply_length_rule(conv.channel.kind, conv.platform_thread_id)
            conversations.append(
                DryRunConversation(
                    conv,
                    reply.locale if reply else "",
                    text,
                    length_rule=rule,
                    length=textrules.length_for(rule, text),
                    limit=textrules.LIMITS.get(rule),
                )
            )
    emails: list[tuple[str, str]] = []
    for user in (plan.author, plan.approved_by):
        if user is not None and user.email:
            emails.append((user.email, f"[Dusk] {plan.title}: {phase.get_kind_display()} phase ran"))
    for move in preview.reassignments:
        if move.agent.email:
            emails.append((move.agent.email, f"[Dusk] Your new role from {phase.local_date}"))
    return DryRun(
        preview=preview,
        conversations=conversations,
        conversations_total=total,
        emails=emails,
        public_changes=preview.public_changes,
    )


@dataclass
class WatchdogMetrics:
    retired_at: datetime | None
    inbound_last_24h: int = 0
    inbound_since: int = 0
    customers_told: int = 0
    customers_redirected: int = 0
    failed_replies: int = 0
    hourly: list[tuple[datetime, int]] = field(default_factory=list)

    @property
    def redirect_share(self) -> float | None:
        return self.customers_redirected / self.customers_told if self.customers_told else None


def retirement_run(channel: Channel):
    """The finished (not rolled back) hard-close run that retired a channel."""
    return (
        CutoverRun.objects.filter(
            state__in=FINISHED_RUN_STATES,
            phase__kind=PhaseKind.HARD_CLOSE,
            rolled_back_at__isnull=True,
            plan__plan_channels__channel=channel,
        )
        .order_by("-finished_at")
        .first()
    )


def channel_replies_since_retirement(channel: Channel, run: CutoverRun):
    """The channel's outbox rows that belong to its retirement: the run's hand-off notices and
    every auto-reply written since the run started. One definition for every page."""
    return OutboxMessage.objects.filter(channel=channel).filter(
        Q(created_by_run_id=run.pk) | Q(created_at__gte=run.started_at or run.queued_at)
    )


def watchdog_metrics(channel: Channel, *, now: datetime | None = None, hours: int = 7 * 24) -> WatchdogMetrics:
    """Inbound still arriving, customers who followed the redirect, failed
    replies: a fixed number of queries whatever the volume."""

    now = now or timezone.now()
    run = retirement_run(channel)
    if run is None or run.finished_at is None:
        return WatchdogMetrics(retired_at=None)
    since = run.finished_at
    inbound = Message.objects.filter(channel=channel, direction="in", received_at__gte=since)
    metrics = WatchdogMetrics(retired_at=since)
    # The last 24 hours mean what the channel page says they mean (directory.selectors.inbound_volume).
    metrics.inbound_last_24h = inbound_volume(channel.pk, now=now).total
    metrics.inbound_since = inbound.count()
    replies = channel_replies_since_retirement(channel, run)
    told = replies.filter(state=OutboxState.SENT)
    metrics.customers_told = told.values("conversation__customer_id").distinct().count()
    # People who landed on the tracked link's page: link previews, crawlers, HEAD requests and
    # repeats are recorded apart (handoff) and do not count.
    metrics.customers_redirected = (
        LandingVisit.objects.filter(
            conversation__in=told.values("conversation_id"), at__gte=since, kind=VisitKind.HUMAN
        )
        .values("conversation__customer_id")
        .distinct()
        .count()
    )
    metrics.failed_replies = replies.filter(state=OutboxState.FAILED).count()
    start = max(since, now - timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
    per_hour = dict(
        inbound.filter(received_at__gte=start)
        .annotate(hour=TruncHour("received_at"))
        .values("hour")
        .annotate(n=Count("id"))
        .values_list("hour", "n")
    )
    series, hour = [], start
    while hour <= now:
        series.append((hour, per_hour.get(hour, 0)))
        hour += timedelta(hours=1)
    metrics.hourly = series
    return metrics


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
            # A step still going counts up to now, the Delivering step too (the run is Delivering).
            going = run.state in (RunState.RUNNING, RunState.DELIVERING)
            seconds = ((finished or (now if going else started)) - started).total_seconds()
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


@dataclass
class RunTimings:
    """How long a run took, in two honest parts: its database steps (from the start to the end of
    the notifications step) and the delivery of what they wrote (until the last hand-off notice
    and email was sent or failed; so far, while it is still delivering)."""

    database_seconds: float | None = None
    delivery_seconds: float | None = None
    delivering: bool = False  # the delivery figure is "so far"

    @property
    def total_seconds(self) -> float | None:
        if self.database_seconds is None:
            return None
        return self.database_seconds + (self.delivery_seconds or 0.0)


def run_timings(run: CutoverRun, *, now: datetime | None = None) -> RunTimings:
    now = now or timezone.now()
    timings = RunTimings()
    if run.started_at is None or run.finished_at is None:
        return timings
    timings.database_seconds = (run.finished_at - run.started_at).total_seconds()
    if run.state == RunState.DELIVERING:
        timings.delivery_seconds = max((now - run.finished_at).total_seconds(), 0.0)
        timings.delivering = True
    elif run.delivered_at is not None:
        timings.delivery_seconds = max((run.delivered_at - run.finished_at).total_seconds(), 0.0)
    return timings


@dataclass
class RunProgress:
    """Everything the run page (and each of its htmx refreshes) shows, read once: the steps, the
    delivery counts, the first failures and how many more there are. The "Delivering" step's
    count is the delivery counts' own (sent + failed of the total), never a figure saved earlier,
    so the step and the counts beside it agree at every refresh."""

    steps: list[StepProgress]
    delivery: DeliveryCounts
    failures: list[OutboxMessage]
    timings: RunTimings
    publications: list[Publication] = field(default_factory=list)

    @property
    def failures_not_shown(self) -> int:
        """Failed hand-off notices beyond the ones listed."""
        return max(self.delivery.handoffs_failed - len(self.failures), 0)


def run_progress(run: CutoverRun, *, now: datetime | None = None, failures_shown: int = 50) -> RunProgress:
    """Three to four queries: delivery counts (two), the first failures when there are any."""
    now = now or timezone.now()
    delivery = run_delivery_counts(run.pk)
    steps = run_steps(run, now=now)
    for step in steps:
        if step.key == Step.DELIVERING and step.state != "pending":
            step.done, step.total = delivery.sent + delivery.failed, delivery.total
    failures = run_failed_deliveries(run.pk, limit=failures_shown) if delivery.handoffs_failed else []
    # The public notice's changes, read only when the run has some (its steps say so).
    publishing = (run.steps or {}).get(Step.PUBLISHING) or {}
    publications = run_public_changes(run.pk) if publishing.get("total") else []
    return RunProgress(
        steps=steps, delivery=delivery, failures=failures, timings=run_timings(run, now=now), publications=publications
    )


def run_for_page(pk: int) -> CutoverRun:
    return CutoverRun.objects.select_related("plan", "phase", "rolled_back_by", "superseded_by").get(pk=pk)


# --- the scheduler's pulse (/healthz, /metrics) -------------------------------------------


def beat_sweep_age(*, now: datetime | None = None) -> float | None:
    """Seconds since beat's sweep for due phases last ran; None if it never ran."""
    beat_at = Heartbeat.objects.filter(name=Heartbeat.BEAT_SWEEP).values_list("beat_at", flat=True).first()
    if beat_at is None:
        return None
    return max(((now or timezone.now()) - beat_at).total_seconds(), 0.0)


def oldest_due_phase_age(*, now: datetime | None = None) -> float | None:
    """Seconds the oldest phase that is due but not claimed has been waiting (index phase_due)."""
    now = now or timezone.now()
    instant = Phase.objects.filter(state=PhaseState.SCHEDULED, instant__lte=now).aggregate(oldest=Min("instant"))[
        "oldest"
    ]
    return None if instant is None else (now - instant).total_seconds()


# --- figures for /metrics ----------------------------------------------------------------


def run_counts_by_state() -> dict[str, int]:
    rows = CutoverRun.objects.values("state").annotate(n=Count("id")).order_by("state")
    return {row["state"]: row["n"] for row in rows}


def active_run_progress() -> list[dict]:
    """Each queued or running run: the share of its steps done (the current step counted by its
    own done/total), as the run page shows it."""
    runs = (
        CutoverRun.objects.filter(state__in=[RunState.QUEUED, RunState.RUNNING])
        .only("id", "plan_id", "current_step", "steps")
        .order_by("id")
    )
    result = []
    for run in runs:
        index = STEP_ORDER.index(run.current_step)
        step = run.steps.get(run.current_step) or {}
        fraction = (step.get("done", 0) / step["total"]) if step.get("total") else 0.0
        result.append(
            {
                "run_id": run.pk,
                "plan_id": run.plan_id,
                "step": run.current_step,
                "progress": min((index + min(fraction, 1.0)) / (len(STEP_ORDER) - 1), 1.0),
            }
        )
    return result


def finished_run_durations() -> list[float]:
    """Seconds from start to finish of every finished run."""
    rows = CutoverRun.objects.filter(started_at__isnull=False, finished_at__isnull=False).values_list(
        "started_at", "finished_at"
    )
    return [(finished - started).total_seconds() for started, finished in rows]


def schedule_lags() -> list[float]:
    """Seconds from each phase's instant to its run's start (what bench/schedule_lag.py measures)."""
    rows = CutoverRun.objects.filter(started_at__isnull=False).values_list("started_at", "phase__instant")
    return [max((started - instant).total_seconds(), 0.0) for started, instant in rows]


# What a rollback did, in words: (summary key, singular, plural). Keys absent from a summary are
# not shown; a zero count is not shown either.
_ROLLBACK_LINES = [
    ("channels_restored", ngettext_lazy("%(n)s channel restored", "%(n)s channels restored", "n")),
    (
        "conversations_reopened",
        ngettext_lazy("%(n)s conversation reopened", "%(n)s conversations reopened", "n"),
    ),
    (
        "handoffs_dropped_unsent",
        ngettext_lazy("%(n)s hand-off notice not sent and dropped", "%(n)s hand-off notices not sent and dropped", "n"),
    ),
    (
        "handoffs_already_sent",
        ngettext_lazy(
            "%(n)s hand-off notice had already reached its customer",
            "%(n)s hand-off notices had already reached their customers",
            "n",
        ),
    ),
    (
        "handoffs_never_delivered",
        ngettext_lazy("%(n)s hand-off notice had failed and stays failed", "%(n)s hand-off notices had failed", "n"),
    ),
    ("assignments_removed", ngettext_lazy("%(n)s new assignment removed", "%(n)s new assignments removed", "n")),
    ("assignments_reopened", ngettext_lazy("%(n)s old assignment reopened", "%(n)s old assignments reopened", "n")),
    (
        "moves_reverted",
        ngettext_lazy("%(n)s agent move set back to confirmed", "%(n)s agent moves set back to confirmed", "n"),
    ),
    ("later_phases_cancelled", ngettext_lazy("%(n)s later phase cancelled", "%(n)s later phases cancelled", "n")),
    (
        "public_changes_restored",
        ngettext_lazy(
            "%(n)s public change restored on its platform", "%(n)s public changes restored on their platforms", "n"
        ),
    ),
]


def rollback_summary_lines(run: CutoverRun) -> list[str]:
    """The rollback's summary as translated sentences, in a fixed order (never raw keys)."""
    summary = run.rollback_summary or {}
    lines = []
    for key, phrase in _ROLLBACK_LINES:
        n = summary.get(key)
        if n:
            lines.append(phrase % {"n": n})
    lines.extend(summary.get("public_changes_not_restored") or [])
    return lines


def failed_handoffs(run_id: int):
    """The run's hand-off notices that were not delivered (failed, or skipped: the customer was
    not told), oldest first, with their channel and conversation."""
    return (
        OutboxMessage.objects.filter(
            created_by_run_id=run_id,
            kind=OutboxKind.HANDOFF,
            state__in=[OutboxState.FAILED, OutboxState.SKIPPED],
        )
        .select_related("channel", "conversation")
        .order_by("id")
    )


def failed_emails(run_id: int):
    """The run's emails (to agents and owners about the phase) that failed, oldest first."""
    return (
        Notification.objects.filter(run_id=run_id, state=NotificationState.FAILED)
        .exclude(kind__in=OWNER_NOTICE_KINDS)
        .order_by("id")
    )


def run_failed_deliveries(run_id: int, *, limit: int = 50) -> list[OutboxMessage]:
    """The first `limit` of the run's hand-off notices that were not delivered, with the reason."""
    return list(failed_handoffs(run_id)[:limit])


def failed_runs():
    """Runs that failed and whose plan still stands failed: nobody has acted on them yet (the
    dashboard's Needs my action). A failed run may have changed channels before it stopped."""
    return (
        CutoverRun.objects.filter(state=RunState.FAILED, plan__state=PlanState.FAILED, rolled_back_at__isnull=True)
        .select_related("plan", "phase")
        .order_by("-finished_at", "-id")
    )


def runs_with_delivery_failures(plan_ids=None):
    """Runs that ended "Completed with failures" and were not rolled back (dashboard, Needs my action)."""
    qs = CutoverRun.objects.filter(state=RunState.COMPLETED_WITH_FAILURES, rolled_back_at__isnull=True)
    if plan_ids is not None:
        qs = qs.filter(plan_id__in=plan_ids)
    return qs.select_related("plan", "phase").order_by("-finished_at", "-id")
