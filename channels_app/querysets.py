"""Shaped reads. Nothing here writes."""

from dataclasses import dataclass, field

from django.db.models import Count, Q

from .models import (
    Assignment,
    Channel,
    Conversation,
    ConversationState,
    Phase,
    PhaseKind,
    Reassignment,
    ReassignmentState,
    SunsetPlan,
)
from .services.cutover import ACTIVE_REASSIGNMENT_STATES, CHANNEL_STATE_FOR_PHASE
from .workforce_queries import affected_agents


@dataclass
class PhasePreview:
    phase: Phase
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


def preview_phase(phase: Phase) -> PhasePreview:
    plan = phase.plan
    channels = list(Channel.objects.filter(plan_channels__plan=plan).order_by("name"))
    target = CHANNEL_STATE_FOR_PHASE[phase.kind]
    preview = PhasePreview(phase=phase)
    preview.channel_changes = [(c, c.state, target) for c in channels if c.state != target]
    open_count = Conversation.objects.filter(channel__in=channels, state=ConversationState.OPEN).count()
    recipients = {u.email for u in (plan.author, plan.approved_by) if u is not None and u.email}
    if phase.kind == PhaseKind.HARD_CLOSE:
        preview.conversations_to_move = open_count
        preview.handoff_notices = open_count
        preview.reassignments = list(
            Reassignment.objects.filter(plan=plan, state__in=ACTIVE_REASSIGNMENT_STATES)
            .select_related("agent", "from_team", "to_team")
            .order_by("agent__name", "id")
        )
        with_destination = Reassignment.objects.filter(
            plan=plan, state__in=[*ACTIVE_REASSIGNMENT_STATES, ReassignmentState.PROPOSED]
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
    return values
