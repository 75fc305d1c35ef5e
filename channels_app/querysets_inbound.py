"""Shaped reads for inbound messages and replies. Nothing here writes."""

from django.db import connection
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


# What a webhook needs of its channel, in the model's field order (Model.from_db expects it);
# the rest stays deferred, loaded if touched.
WEBHOOK_CHANNEL_FIELDS = tuple(
    f.attname
    for f in Channel._meta.concrete_fields
    if f.attname in ("id", "kind", "name", "webhook_secret_env", "platform_account_id")
)


def webhook_channel(channel_id: int, kind: str) -> Channel | None:
    """The channel a webhook delivery is for, or None.

    Every delivery runs this, so it is one plain SELECT of the columns a webhook uses:
    compiling the ORM query and building a full instance cost more CPU than the lookup."""
    table = connection.ops.quote_name(Channel._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(name) for name in WEBHOOK_CHANNEL_FIELDS)
    with connection.cursor() as cur:
        cur.execute(f"SELECT {columns} FROM {table} WHERE id = %s AND kind = %s", [channel_id, kind])
        row = cur.fetchone()
    return Channel.from_db(connection.alias, WEBHOOK_CHANNEL_FIELDS, row) if row else None


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
