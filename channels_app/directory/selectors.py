"""Reads of the directory: the channel list, a channel's page and its inbound volume."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from channels_app.core.charts import Column, column_chart
from channels_app.models import (
    Channel,
    Conversation,
    ConversationState,
    Direction,
    Message,
    Phase,
    PlanChannel,
    SunsetPlan,
    Team,
)


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
class Volume:
    bars: list[Column]
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
    # 20 units an hour, 16 of them drawn; 70 tall below a margin of 4; an empty hour shows as 2.
    bars, _peak = column_chart(
        counts, left=0, top=4, plot_width=20 * hours, plot_height=VOLUME_HEIGHT, gap=4, min_height=2
    )
    return Volume(bars=bars, total=sum(n for _at, n in counts), last_hour=counts[-1][1])
