"""Reads of plans: their pages (impact, review diff, lists), placeholder values and tracked links."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Case, CharField, Count, Exists, OuterRef, Prefetch, Q, Value, When
from django.db.models.functions import Cast, Concat
from django.utils.translation import gettext, ngettext

from channels_app.core.zones import date_in_language
from channels_app.models import (
    PHASE_ORDER,
    AuditEvent,
    AutoReply,
    Channel,
    ChannelState,
    Conversation,
    ConversationState,
    CutoverRun,
    Notification,
    NotificationState,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Phase,
    PhaseKind,
    PhaseState,
    PlanState,
    PublicNotice,
    Reassignment,
    ReassignmentState,
    RedirectTarget,
    SunsetPlan,
)
from channels_app.workforce.selectors import WITH_DESTINATION, affected_assignments

# The channel state each phase kind leaves a plan's channels in.
CHANNEL_STATE_FOR_PHASE = {
    PhaseKind.NOTICE: ChannelState.NOTICE,
    PhaseKind.SOFT_CLOSE: ChannelState.SOFT_CLOSED,
    PhaseKind.HARD_CLOSE: ChannelState.RETIRED,
    PhaseKind.ARCHIVE: ChannelState.RETIRED,
}
# The order a channel moves in; within a plan a phase only moves a channel that is behind it.
CHANNEL_STATES_IN_ORDER = [ChannelState.ACTIVE, ChannelState.NOTICE, ChannelState.SOFT_CLOSED, ChannelState.RETIRED]


def moves_forward(state: str, target: str) -> bool:
    """Whether a phase leaving channels in `target` changes a channel now in `state`."""
    return CHANNEL_STATES_IN_ORDER.index(state) < CHANNEL_STATES_IN_ORDER.index(target)


def plan_counts_by_state() -> dict[str, int]:
    return dict(SunsetPlan.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))


def placeholder_values(plan: SunsetPlan, *, locale: str, **known: str) -> dict[str, str]:
    """Values for an auto-reply's placeholders in the reply's language (`locale`: the date is
    written as that language writes it): the plan's first redirect of each kind, then whatever
    the caller knows (customer, reference, ...)."""
    values = {"redirect_url": "", "phone": "", "app_link": ""}
    slot = {"url": "redirect_url", "phone": "phone", "app": "app_link"}
    for target in sorted(plan.redirects.all(), key=lambda t: t.position):
        key = slot[target.kind]
        if not values[key]:
            values[key] = target.value
    if not values["redirect_url"]:
        values["redirect_url"] = values["app_link"] or values["phone"]
    hard_close = next((p for p in plan.phases.all() if p.kind == PhaseKind.HARD_CLOSE), None)
    if hard_close is not None:
        values["date"] = date_in_language(hard_close.local_date, locale)
    values.update({k: v for k, v in known.items() if v is not None})
    if values.get("reference") and any(t.kind == "url" for t in plan.redirects.all()):
        values["redirect_url"] = tracked_redirect_url(values["reference"])
    return values


def tracked_redirect_url(reference: str) -> str:
    """The link auto-replies carry: the watchdog counts who followed it, then
    sends them on to the plan's web redirect (cutover.views.tracked_redirect)."""
    return f"{settings.DUSK_PUBLIC_URL}/r/{reference}"


def pick_auto_reply(replies: list[AutoReply], phase_kind: str, locale: str, default_locale: str) -> AutoReply | None:
    """The reply for a phase in the customer's locale, else its language
    (pt-BR -> pt), else the plan's default locale."""
    by_locale = {r.locale: r for r in replies if r.phase_kind == phase_kind}
    for candidate in (locale, (locale or "").split("-")[0], default_locale):
        if candidate and candidate in by_locale:
            return by_locale[candidate]
    return None


def plan_for_page(pk: int) -> SunsetPlan:
    """A plan with everything its page shows, in a fixed number of queries."""
    return (
        SunsetPlan.objects.select_related("author", "approved_by")
        .prefetch_related(
            Prefetch("phases", queryset=Phase.objects.order_by("instant", "id")),
            Prefetch("channels", queryset=Channel.objects.order_by("name")),
            Prefetch("redirects", queryset=RedirectTarget.objects.order_by("position")),
            # In the order the phases run (notice, soft close, hard close, archive), not alphabetically.
            Prefetch(
                "auto_replies",
                queryset=AutoReply.objects.annotate(
                    phase_rank=Case(
                        *[When(phase_kind=kind, then=Value(rank)) for rank, kind in enumerate(PHASE_ORDER)],
                        default=Value(len(PHASE_ORDER)),
                    )
                ).order_by("phase_rank", "locale"),
            ),
            Prefetch("public_notices", queryset=PublicNotice.objects.order_by("locale")),
            Prefetch(
                "runs",
                queryset=CutoverRun.objects.select_related("phase", "superseded_by", "rolled_back_by").order_by(
                    "-queued_at", "-id"
                ),
            ),
        )
        .get(pk=pk)
    )


# The phase states in which a phase is still to come (running: its run may not be done yet).
PHASE_STATES_TO_COME = (PhaseState.PENDING, PhaseState.SCHEDULED, PhaseState.RUNNING)


@dataclass
class PhaseEffect:
    """What one phase does to the plan's channels, from the states they will be in when it runs
    (the states the phases before it leave them in); a phase already done (or cancelled,
    skipped, rolled back) changes nothing more and says so."""

    phase: Phase
    channel_changes: list[tuple[Channel, str, str]]
    moves_conversations: bool
    closes_conversations: bool
    reassigns: bool
    to_come: bool = True


@dataclass
class PlanImpact:
    conversations_to_move: int
    customers_to_notify: int
    # What the plan's runs did (rolled back runs left out): shown once it has run.
    conversations_moved: int
    handoffs_written: int
    agents_reassigned: int
    agents_affected: int
    agents_without_destination: int
    reassignments_by_state: dict[str, int]
    notifications: int
    phases: list[PhaseEffect]

    @property
    def reassignment_counts(self) -> list[str]:
        """ "3 proposed", "150 done": each state's count as a phrase with its plural form in the
        reader's language, in the order moves go through."""
        return reassignment_count_phrases(self.reassignments_by_state)

    @property
    def phases_to_come(self) -> list[PhaseEffect]:
        return [e for e in self.phases if e.to_come]

    @property
    def some_phase_ran(self) -> bool:
        return any(not e.to_come for e in self.phases)


def reassignment_count_phrases(by_state: dict[str, int]) -> list[str]:
    phrases = {
        ReassignmentState.PROPOSED: lambda n: ngettext("%(n)s proposed", "%(n)s proposed", n),
        ReassignmentState.CONFIRMED: lambda n: ngettext("%(n)s confirmed", "%(n)s confirmed", n),
        ReassignmentState.NOTIFIED: lambda n: ngettext("%(n)s notified", "%(n)s notified", n),
        ReassignmentState.DONE: lambda n: ngettext("%(n)s done", "%(n)s done", n),
    }
    return [phrases[state](by_state[state]) % {"n": by_state[state]} for state in phrases if by_state.get(state)]


def plan_impact(plan: SunsetPlan) -> PlanImpact:
    """What the plan will still change (channels, conversations, customers, agents), from a plan
    loaded by plan_for_page: three queries. Phases already done count for nothing more."""
    channel_ids = [c.pk for c in plan.channels.all()]
    convs = Conversation.objects.filter(channel_id__in=channel_ids, state=ConversationState.OPEN).aggregate(
        # One hand-off notice per customer and channel: count those pairs, as the cutover writes them.
        n=Count("id"),
        customers=Count(Concat(Cast("channel_id", CharField()), Value(":"), "customer_id"), distinct=True),
    )
    # Counted from the open assignments themselves, each agent once, with this plan's move looked
    # up by (plan, agent): reading the agents table (and every move of each agent, which counted an
    # agent moved by two plans twice) cost a scan of all agents.
    move = Reassignment.objects.filter(plan_id=plan.pk, agent_id=OuterRef("agent_id"), state__in=WITH_DESTINATION)
    agents = affected_assignments(plan).aggregate(
        total=Count("agent_id", distinct=True),
        placed=Count("agent_id", filter=Q(Exists(move)), distinct=True),
    )
    # order_by(): the model's ordering (agent name) would join every agent to the count.
    by_state = dict(
        Reassignment.objects.filter(plan=plan)
        .order_by()
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    channels = list(plan.channels.all())
    # Each channel's state as the phases to come find it: today's, then what each leaves.
    expected = {c.pk: c.state for c in channels}
    effects = []
    for p in plan.phases.all():
        to_come = p.state in PHASE_STATES_TO_COME
        changes = []
        if to_come:
            target = CHANNEL_STATE_FOR_PHASE[p.kind]
            # As the engine does it: a channel only moves forward (a retired one never goes back to notice).
            changes = [(c, expected[c.pk], target) for c in channels if moves_forward(expected[c.pk], target)]
            expected.update({c.pk: target for c, _, _ in changes})
        effects.append(
            PhaseEffect(
                phase=p,
                channel_changes=changes,
                moves_conversations=to_come and p.kind == PhaseKind.HARD_CLOSE,
                closes_conversations=to_come and p.kind == PhaseKind.ARCHIVE,
                reassigns=to_come and p.kind == PhaseKind.HARD_CLOSE,
                to_come=to_come,
            )
        )
    kinds = {e.phase.kind for e in effects if e.to_come}
    movers = sum(by_state.get(s, 0) for s in WITH_DESTINATION) if PhaseKind.HARD_CLOSE in kinds else 0
    done = [r for r in plan.runs.all() if r.rolled_back_at is None]
    people = len({u.pk for u in (plan.author, plan.approved_by) if u is not None})
    return PlanImpact(
        conversations_moved=sum(r.conversations_moved for r in done),
        handoffs_written=sum(r.handoffs_queued for r in done),
        agents_reassigned=sum(r.agents_reassigned for r in done),
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
    text = f"{r['kind']}: {r['label']} — {r['value']} ({round(share * 100)}%)"
    if r.get("reference_mode"):
        text += f" · {r['reference_mode']} {r.get('reference_name') or ''}".rstrip()
    return text


def _kind(kind: str) -> str:
    """A phase kind as the pages name it ("Soft close"), the stored key if it is not one."""
    try:
        return str(PhaseKind(kind).label)
    except ValueError:
        return kind


def diff_snapshots(before: dict, after: dict, channel_names: dict[int, str]) -> list[Change]:
    """What changed between two snapshots, in the reader's language."""
    changes: list[Change] = []
    for key, label in (("title", gettext("Title")), ("default_locale", gettext("Default language"))):
        if before.get(key) != after.get(key):
            changes.append(Change(label, "", str(before.get(key) or ""), str(after.get(key) or "")))
    old_ch, new_ch = set(before.get("channels") or []), set(after.get("channels") or [])
    included = gettext("included")
    for pk in sorted(new_ch - old_ch):
        changes.append(Change(gettext("Channels"), channel_names.get(pk, f"#{pk}"), "", included))
    for pk in sorted(old_ch - new_ch):
        changes.append(Change(gettext("Channels"), channel_names.get(pk, f"#{pk}"), included, ""))

    def keyed(rows, key):
        return {key(r): r for r in rows or []}

    sections = (
        (
            gettext("Phases"),
            "phases",
            lambda p: f"{_kind(p['kind'])}{' / ' + p['region'] if p.get('region') else ''}",
            _fmt_phase,
        ),
        (gettext("Redirects"), "redirects", lambda r: f"{r['kind']}: {r['label']}", _fmt_redirect),
        (
            gettext("Auto-replies"),
            "auto_replies",
            lambda a: f"{_kind(a['phase_kind'])} / {a['locale']}",
            lambda a: a["text"],
        ),
        (
            gettext("Public notice"),
            "public_notices",
            lambda n: n["locale"],
            lambda n: " · ".join(n.get(f) or "" for f in ("text", "moved_text", "title", "body") if n.get(f)),
        ),
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


# Emails about the run sent to its owners after it ended: not part of what the run delivers.
OWNER_NOTICE_KINDS = ("delivery_failures", "run_failed")


@dataclass
class DeliveryCounts:
    """What a run has to deliver (its hand-off notices and emails) and where each stands.
    The one definition of these numbers: the run page, plan page, dashboard, rollback and API read it."""

    handoffs_sent: int = 0
    handoffs_failed: int = 0
    handoffs_pending: int = 0
    handoffs_in_doubt: int = 0
    emails_sent: int = 0
    emails_failed: int = 0
    emails_pending: int = 0

    @property
    def sent(self) -> int:
        return self.handoffs_sent + self.emails_sent

    @property
    def failed(self) -> int:
        return self.handoffs_failed + self.emails_failed

    @property
    def in_doubt(self) -> int:
        return self.handoffs_in_doubt

    @property
    def unsettled(self) -> int:
        """Not sent nor failed yet: waiting, or in doubt (an attempt whose outcome is unknown)."""
        return self.handoffs_pending + self.emails_pending

    @property
    def waiting(self) -> int:
        """Unsettled and not in doubt: the four figures a page shows (sent, in doubt, failed,
        waiting) each count a message once and add up to the total."""
        return self.unsettled - self.in_doubt

    @property
    def total(self) -> int:
        return self.sent + self.failed + self.unsettled


def _delivery_counts(handoff_filter: Q, email_filter: Q) -> DeliveryCounts:
    """Two queries: hand-off notices by state, emails by state. A skipped hand-off
    (nothing could be said on that platform) counts as failed: the customer was not told."""
    handoffs = OutboxMessage.objects.filter(handoff_filter, kind=OutboxKind.HANDOFF).aggregate(
        sent=Count("id", filter=Q(state=OutboxState.SENT)),
        failed=Count("id", filter=Q(state__in=[OutboxState.FAILED, OutboxState.SKIPPED])),
        pending=Count("id", filter=Q(state__in=[OutboxState.PENDING, OutboxState.SENDING])),
        in_doubt=Count(
            "id",
            filter=Q(state__in=[OutboxState.PENDING, OutboxState.SENDING], in_doubt_since__isnull=False),
        ),
    )
    emails = (
        Notification.objects.filter(email_filter)
        .exclude(kind__in=OWNER_NOTICE_KINDS)
        .aggregate(
            sent=Count("id", filter=Q(state=NotificationState.SENT)),
            failed=Count("id", filter=Q(state=NotificationState.FAILED)),
            pending=Count("id", filter=Q(state__in=[NotificationState.PENDING, NotificationState.SENDING])),
        )
    )
    return DeliveryCounts(
        handoffs_sent=handoffs["sent"],
        handoffs_failed=handoffs["failed"],
        handoffs_pending=handoffs["pending"],
        handoffs_in_doubt=handoffs["in_doubt"],
        emails_sent=emails["sent"],
        emails_failed=emails["failed"],
        emails_pending=emails["pending"],
    )


def run_delivery_counts(run_id: int) -> DeliveryCounts:
    """What one run has delivered: two queries."""
    return _delivery_counts(Q(created_by_run_id=run_id), Q(run_id=run_id))


def plan_delivery_counts(plan_id: int) -> DeliveryCounts:
    """What every run of a plan has delivered, summed: two queries (plan page, dashboard)."""
    return _delivery_counts(Q(created_by_run__plan_id=plan_id), Q(run__plan_id=plan_id))
