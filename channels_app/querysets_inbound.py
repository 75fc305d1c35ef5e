"""Shaped reads for inbound messages and replies. Nothing here writes."""

from django.db.models import CharField, F, QuerySet, Value
from django.db.models.functions import Coalesce

from .models import Channel, ChannelKind, Direction, Message, OutboxMessage

# The columns of a message log row, in both halves of the UNION.
LOG_COLUMNS = (
    "at",
    "log_direction",
    "log_kind",
    "item_id",
    "customer",
    "reference",
    "body",
    "log_state",
    "detail",
    "platform_id",
)


def youtube_channels_to_poll() -> list[int]:
    """YouTube channels with credentials. The poller reads them whatever their state: an active
    channel's comments are kept for the log; replies only start past notice."""
    return list(
        Channel.objects.filter(kind=ChannelKind.YOUTUBE)
        .exclude(api_token_env="")
        .exclude(platform_account_id="")
        .order_by("id")
        .values_list("id", flat=True)
    )


def _text(value: str) -> Value:
    return Value(value, output_field=CharField())


def channel_message_log(channel: Channel, *, state: str = "", direction: str = "") -> QuerySet:
    """A channel's inbound messages and outbox rows (auto-replies, hand-off notices) newest
    first, as one UNION of dicts: a page costs one query and the paginator's count one more.

    state: "received" (inbound only) or an OutboxState value (outbound only); direction: in/out.
    """
    inbound = (
        Message.objects.filter(channel=channel, direction=Direction.INBOUND)
        .annotate(
            at=F("created_at"),
            log_direction=_text("in"),
            log_kind=_text("message"),
            item_id=F("id"),
            customer=F("conversation__customer_handle"),
            reference=F("conversation__reference"),
            body=F("text"),
            log_state=_text("received"),
            detail=F("lang"),
            platform_id=F("platform_message_id"),
        )
        .values(*LOG_COLUMNS)
    )
    outbound = (
        OutboxMessage.objects.filter(channel=channel)
        .annotate(
            at=Coalesce("sent_at", "created_at"),
            log_direction=_text("out"),
            log_kind=F("kind"),
            item_id=F("id"),
            customer=F("conversation__customer_handle"),
            reference=F("conversation__reference"),
            body=F("rendered_text"),
            log_state=F("state"),
            detail=F("last_error"),
            platform_id=F("platform_response_id"),
        )
        .values(*LOG_COLUMNS)
    )
    if direction == "in" or state == "received":
        outbound = outbound.none()
    elif state:
        outbound = outbound.filter(state=state)
    if direction == "out" or (state and state != "received"):
        inbound = inbound.none()
    return inbound.union(outbound, all=True).order_by("-at", "-log_direction", "-item_id")
