"""Shaped reads. Nothing here writes."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q

from . import textrules
from .models import (
    Assignment,
    AutoReply,
    Channel,
    Conversation,
    ConversationState,
    Phase,
    PhaseKind,
    Reassignment,
    ReassignmentState,
    SunsetPlan,
)
from .services.cutover import (
    CHANNEL_STATE_FOR_PHASE,
    phase_channel_ids,
    phase_reassignments,
)
from .workforce_queries import ACTIVE_MOVE_STATES, affected_agents


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


def affected_assignments(plan: SunsetPlan):
    """Open assignments on teams that work any of the plan's channels."""
    return Assignment.objects.filter(ends_on__isnull=True, team__channels__plan_channels__plan=plan).distinct()


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
    return preview


def plan_counts_by_state() -> dict[str, int]:
    return dict(SunsetPlan.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))


def channel_open_counts(channel_ids: list[int]) -> dict[int, int]:
    return dict(
        Conversation.objects.filter(channel_id__in=channel_ids)
        .values("channel_id")
        .annotate(n=Count("id", filter=Q(state=ConversationState.OPEN)))
        .values_list("channel_id", "n")
    )


def placeholder_values(plan: SunsetPlan, **known: str) -> dict[str, str]:
    """Values for an auto-reply's placeholders: the plan's first redirect of
    each kind, then whatever the caller knows (customer, reference, ...)."""
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
        values["date"] = f"{hard_close.local_date:%d %B %Y}"
    values.update({k: v for k, v in known.items() if v is not None})
    if values.get("reference") and any(t.kind == "url" for t in plan.redirects.all()):
        values["redirect_url"] = tracked_redirect_url(values["reference"])
    return values


def tracked_redirect_url(reference: str) -> str:
    """The link auto-replies carry: the watchdog counts who followed it, then
    sends them on to the plan's web redirect (safety_views.tracked_redirect)."""
    from django.conf import settings

    return f"{settings.DUSK_PUBLIC_URL}/r/{reference}"


def pick_auto_reply(replies: list[AutoReply], phase_kind: str, locale: str, default_locale: str) -> AutoReply | None:
    """The reply for a phase in the customer's locale, else its language
    (pt-BR -> pt), else the plan's default locale."""
    by_locale = {r.locale: r for r in replies if r.phase_kind == phase_kind}
    for candidate in (locale, (locale or "").split("-")[0], default_locale):
        if candidate and candidate in by_locale:
            return by_locale[candidate]
    return None


@dataclass
class DryRunConversation:
    conversation: Conversation
    locale: str
    text: str


@dataclass
class DryRun:
    """Everything a phase would change and send, item by item."""

    preview: PhasePreview
    conversations: list[DryRunConversation]
    conversations_total: int
    emails: list[tuple[str, str]]  # (recipient, subject)


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
        base = placeholder_values(plan)
        for conv in page:
            locale = conv.locale or plan.default_locale
            reply = pick_auto_reply(replies, phase.kind, locale, plan.default_locale)
            text = ""
            if reply is not None:
                text = textrules.render(
                    reply.text,
                    {
                        **base,
                        "customer_name": conv.customer_name or conv.customer_handle,
                        "reference": conv.reference,
                        "channel": conv.channel.name,
                    },
                )
            conversations.append(DryRunConversation(conv, reply.locale if reply else "", text))
    emails: list[tuple[str, str]] = []
    for user in (plan.author, plan.approved_by):
        if user is not None and user.email:
            emails.append((user.email, f"[Dusk] {plan.title}: {phase.get_kind_display()} phase ran"))
    for move in preview.reassignments:
        if move.agent.email:
            emails.append((move.agent.email, f"[Dusk] Your new role from {phase.local_date}"))
    return DryRun(preview=preview, conversations=conversations, conversations_total=total, emails=emails)


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
    """The completed (not rolled back) hard-close run that retired a channel."""
    from .models import CutoverRun

    return (
        CutoverRun.objects.filter(
            state="completed",
            phase__kind=PhaseKind.HARD_CLOSE,
            rolled_back_at__isnull=True,
            plan__plan_channels__channel=channel,
        )
        .order_by("-finished_at")
        .first()
    )


def watchdog_metrics(channel: Channel, *, now: datetime | None = None, hours: int = 7 * 24) -> WatchdogMetrics:
    """Inbound still arriving, customers who followed the redirect, failed
    replies: a fixed number of queries whatever the volume."""
    from datetime import timedelta

    from django.db.models.functions import TruncHour
    from django.utils import timezone

    from .models import Message, OutboxMessage, RedirectClick

    now = now or timezone.now()
    run = retirement_run(channel)
    if run is None or run.finished_at is None:
        return WatchdogMetrics(retired_at=None)
    since = run.finished_at
    inbound = Message.objects.filter(channel=channel, direction="in", created_at__gte=since)
    metrics = WatchdogMetrics(retired_at=since)
    counts = inbound.aggregate(total=Count("id"), day=Count("id", filter=Q(created_at__gte=now - timedelta(hours=24))))
    metrics.inbound_since, metrics.inbound_last_24h = counts["total"], counts["day"]
    told = OutboxMessage.objects.filter(channel=channel, state="sent", sent_at__gte=since)
    metrics.customers_told = told.values("conversation_id").distinct().count()
    metrics.customers_redirected = (
        RedirectClick.objects.filter(conversation__in=told.values("conversation_id"), at__gte=since)
        .values("conversation_id")
        .distinct()
        .count()
    )
    metrics.failed_replies = OutboxMessage.objects.filter(
        channel=channel, state="failed", created_at__gte=since
    ).count()
    start = max(since, now - timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
    per_hour = dict(
        inbound.filter(created_at__gte=start)
        .annotate(hour=TruncHour("created_at"))
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
