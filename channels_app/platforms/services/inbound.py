"""Storing what customers send: one message, its conversation and (past notice) its reply.

Called by the webhooks and the YouTube poller. Every message is three writes, none of them a
read-then-write:

1. upsert the conversation by (channel, thread) and get back its id and state;
2. insert the message, ignoring a duplicate platform id (``ON CONFLICT DO NOTHING RETURNING``);
3. when the message is new and the channel is past notice, insert the outbox row for the reply
   (its ``dedupe_key`` comes from the platform id, so it can never be written twice).

On PostgreSQL the three are one statement (data-modifying CTEs): one round trip per message,
atomic by itself. Elsewhere (SQLite) they run one after the other in a transaction.

A duplicate delivery, even a concurrent one, stores nothing: PostgreSQL makes the second insert
wait for the first transaction and then skips it. Callers answer the platform 2xx only after this
function returned, that is after the commit.

Which messages get an auto-reply, by channel state (the phase that ran last):

| state       | phase        | auto-reply                                                             |
|-------------|--------------|------------------------------------------------------------------------|
| active      | -            | never: people answer                                                   |
| notice      | notice       | yes, the notice text warns of the date (people still answer too)       |
| soft_closed | soft_close   | only to messages that start a new conversation or arrive in one that   |
|             |              | is no longer open; replies in open conversations stay with people      |
| retired     | hard_close   | yes (archive: the archive text when written, else the hard-close one)  |

A conversation that starts on a soft-closed or retired channel is stored closed: nobody will
pick it up there, the auto-reply points the customer elsewhere.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from channels_app.core.prepared import prepared_cursor
from channels_app.models import (
    Channel,
    ChannelState,
    Conversation,
    ConversationState,
    Direction,
    Message,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    PhaseKind,
    WebhookToken,
    new_reference,
)
from channels_app.platforms.adapters.base import Deletion, Event, InboundMessage
from channels_app.platforms.adapters.registry import PLATFORMS

ID_MAX = 128  # Message.platform_message_id, Conversation.platform_thread_id / customer_id


# Which phase's auto-reply answers a channel in each state; an active channel is left to people,
# and a retired channel that was archived answers with the archive reply (outbox falls back to
# the hard-close one). Turned into SQL below, so the decision uses the channel's state as the
# statement sees it: a delivery racing the cutover is answered for the state it is stored in.
PHASE_FOR_STATE = {
    ChannelState.NOTICE: PhaseKind.NOTICE,
    ChannelState.SOFT_CLOSED: PhaseKind.SOFT_CLOSE,
    ChannelState.RETIRED: PhaseKind.HARD_CLOSE,
}
# Conversations that start on a channel in these states are open (people answer them).
STAFFED_STATES = (ChannelState.ACTIVE, ChannelState.NOTICE)


def reply_dedupe_key(channel_id: int, platform_message_id: str) -> str:
    return f"reply:{channel_id}:{platform_message_id}"


@dataclass
class InboundResult:
    stored: int = 0
    duplicates: int = 0
    replies_queued: int = 0
    message_ids: list[int] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)
    deletions: int = 0
    replies_skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        answer = {"stored": self.stored, "duplicates": self.duplicates, "replies_queued": self.replies_queued}
        if self.deletions:
            answer["replies_skipped"] = self.replies_skipped
        return answer


def _clean(value: str | None, limit: int) -> str:
    # PostgreSQL text cannot hold NUL; names and handles are display only, so trimming is safe.
    return (value or "").replace("\x00", "")[:limit]


def _validate(messages: Sequence[InboundMessage]) -> None:
    problems: list[str] = []
    for position, message in enumerate(messages, start=1):
        for name in ("platform_message_id", "thread_id", "customer_id"):
            value = getattr(message, name) or ""
            if not value.strip() and name != "customer_id":
                problems.append(f"message {position}: {name} is empty")
            elif len(value) > ID_MAX or "\x00" in value:
                problems.append(f"message {position}: {name} is longer than {ID_MAX} characters or holds NUL")
        if message.created_at is None or timezone.is_naive(message.created_at):
            problems.append(f"message {position}: created_at must be an aware datetime")
    if problems:
        raise ValidationError(problems)


# Longest kept value of the platforms' text meta fields (email's); others are kept as given.
_META_LIMITS = {"subject": 500, "address": 255, "references": 2000}


def _meta(channel: Channel, message: InboundMessage) -> dict:
    meta: dict = {}
    if message.customer_name:
        meta["name"] = _clean(message.customer_name, 255)
    platform = PLATFORMS.get(channel.kind)
    if platform is not None:
        for key, value in platform.message_meta(message).items():
            meta[key] = _clean(value, _META_LIMITS[key]) if key in _META_LIMITS else value
    return meta


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _literal(value: str) -> str:
    assert re.fullmatch(r"[a-z_]+", value), value  # enum values only: safe to inline
    return f"'{value}'"


def _channel_row(table: str) -> str:
    whens = " ".join(
        f"WHEN ch.state = {_literal(state)} THEN {_literal(kind)}" for state, kind in PHASE_FOR_STATE.items()
    )
    archived = f"WHEN ch.state = {_literal(ChannelState.RETIRED)} AND ch.archived_at IS NOT NULL THEN {_literal(PhaseKind.ARCHIVE)}"
    staffed = ", ".join(_literal(state) for state in STAFFED_STATES)
    return (
        f"SELECT CASE {archived} {whens} END AS phase_kind, "
        f"CASE WHEN ch.state IN ({staffed}) THEN {_literal(ConversationState.OPEN)} "
        f"ELSE {_literal(ConversationState.CLOSED)} END AS new_state "
        f"FROM {table} ch WHERE ch.id = %(channel)s"
    )


# The three statements, written once; PostgreSQL runs them as one (data-modifying CTEs), other
# databases one after the other. A reply to a message we know joins that message's
# conversation (X gives no thread id; a customer answering our auto-reply answers a message of
# ours). The reply is written unless soft close leaves an open conversation to people.
# The replied-to lookup must only ever use platform_message_unique: the statement is prepared
# once per connection, and PostgreSQL's generic plan, made while the tables were small, once
# found it through an index on channel alone by reading every message of the channel (a
# delivery slowed as the channel grew). Message.channel has no index of its own for that reason
# (test_inbound.py::test_storing_a_message_reads_the_same_few_rows_however_many_the_channel_holds).
_CONVERSATION = """
    INSERT INTO {conv} AS c (channel_id, platform_thread_id, customer_id, customer_handle, customer_name, locale,
                             reference, state, opened_at, last_message_at)
    VALUES (%(channel)s,
            COALESCE((SELECT c2.platform_thread_id FROM {msg} m JOIN {conv} c2 ON c2.id = m.conversation_id
                      WHERE m.channel_id = %(channel)s AND m.platform_message_id = %(in_reply_to)s), %(thread)s),
            %(customer)s, %(handle)s, %(name)s, %(lang)s, %(reference)s, {new_state}, %(created)s, %(created)s)
    ON CONFLICT (channel_id, platform_thread_id) DO UPDATE
        SET last_message_at = CASE WHEN EXCLUDED.last_message_at > c.last_message_at
                                   THEN EXCLUDED.last_message_at ELSE c.last_message_at END
    RETURNING id, state
"""
_MESSAGE = """
    INSERT INTO {msg} (channel_id, conversation_id, platform_message_id, direction, author_id, text, lang,
                       created_at, received_at, meta)
    VALUES (%(channel)s, {conversation_id}, %(pid)s, %(direction)s, %(customer)s, %(text)s, %(lang)s,
            %(created)s, %(now)s, %(meta)s)
    ON CONFLICT (channel_id, platform_message_id) DO NOTHING
    RETURNING id
"""
_REPLY = """
    INSERT INTO {out} (channel_id, conversation_id, in_reply_to_id, kind, phase_kind, dedupe_key, state, attempts,
                       rendered_text, platform_response_id, last_error, created_at, claimed_by)
    SELECT %(channel)s, {conversation_id}, {message_id}, %(kind)s, ch.phase_kind, %(dedupe_key)s, %(pending)s, 0,
           '', '', '', %(now)s, ''
    {source}
    WHERE ch.phase_kind IS NOT NULL AND NOT (ch.phase_kind = %(soft_close)s AND {conversation_state} = %(open)s)
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id
"""


@functools.cache
def _statements(vendor: str) -> tuple[str, ...]:
    names = {"conv": _table(Conversation), "msg": _table(Message), "out": _table(OutboxMessage)}
    channel_row = _channel_row(_table(Channel))
    if vendor == "postgresql":
        # One round trip per message, and atomic on its own.
        return (
            f"""
            WITH ch AS ({channel_row}),
            conv AS ({_CONVERSATION.format(new_state="(SELECT new_state FROM ch)", **names)}),
            msg AS ({_MESSAGE.format(conversation_id="(SELECT id FROM conv)", **names)}),
            reply AS ({
                _REPLY.format(
                    conversation_id="conv.id",
                    message_id="msg.id",
                    source="FROM msg CROSS JOIN conv CROSS JOIN ch",
                    conversation_state="conv.state",
                    **names,
                )
            })
            SELECT (SELECT id FROM msg), (SELECT id FROM reply)
            """,
        )
    return (
        _CONVERSATION.format(new_state=f"(SELECT new_state FROM ({channel_row}) AS ch)", **names),
        _MESSAGE.format(conversation_id="%(conversation_id)s", **names),
        _REPLY.format(
            conversation_id="%(conversation_id)s",
            message_id="%(message_id)s",
            source=f"FROM ({channel_row}) AS ch",
            conversation_state="%(conversation_state)s",
            **names,
        ),
    )


def _store_one(cur, statements: tuple[str, ...], params: dict) -> tuple[int | None, int | None]:
    """(message id or None for a duplicate, outbox id or None)."""
    if len(statements) == 1:
        cur.execute(statements[0], params)
        return cur.fetchone()
    conversation, message, reply = statements
    cur.execute(conversation, params)
    params["conversation_id"], params["conversation_state"] = cur.fetchone()
    cur.execute(message, params)
    row = cur.fetchone()
    if row is None:
        return None, None
    params["message_id"] = row[0]
    cur.execute(reply, params)
    outbox = cur.fetchone()
    return row[0], outbox[0] if outbox else None


def receive_messages(
    *, channel: Channel, messages: Sequence[InboundMessage], now: datetime | None = None
) -> InboundResult:
    """Store inbound messages (duplicates ignored) and queue their auto-replies, atomically.

    Raises ValidationError, before writing anything, when a message cannot be stored as is.
    """
    _validate(messages)
    result = InboundResult()
    if not messages:
        return result
    now = now or timezone.now()
    shared = {
        "channel": channel.pk,
        "now": now,
        "direction": Direction.INBOUND,
        "kind": OutboxKind.AUTO_REPLY,
        "pending": OutboxState.PENDING,
        "open": ConversationState.OPEN,
        "soft_close": PhaseKind.SOFT_CLOSE,
    }
    statements = _statements(connection.vendor)
    # A single statement is atomic by itself: no BEGIN/COMMIT round trips for the common case.
    atomic = transaction.atomic() if len(statements) > 1 or len(messages) > 1 else nullcontext()
    with atomic, prepared_cursor() as cur:
        for message in messages:
            params = {
                **shared,
                "pid": message.platform_message_id,
                "thread": message.thread_id,
                "in_reply_to": message.in_reply_to or "",
                "customer": message.customer_id,
                "handle": _clean(message.customer_handle, 255),
                "name": _clean(message.customer_name, 255),
                "lang": _clean(message.lang, 10),
                "text": _clean(message.text, 1_000_000),
                "reference": new_reference(),
                "created": message.created_at,
                "meta": json.dumps(_meta(channel, message)),
                "dedupe_key": reply_dedupe_key(channel.pk, message.platform_message_id),
            }
            message_id, outbox_id = _store_one(cur, statements, params)
            if message_id is None:
                result.duplicates += 1
                continue
            result.stored += 1
            result.message_ids.append(message_id)
            if outbox_id is not None:
                result.replies_queued += 1
                result.outbox_ids.append(outbox_id)
    return result


def skip_replies_to_deleted(*, channel: Channel, deletions: Sequence[Deletion]) -> int:
    """A customer removed a message (or a forum its topic) before we answered: the replies still
    waiting for it are skipped with the reason, and the message is marked deleted so a later
    attempt of a reply already being sent is skipped too (outbox loop guard). Returns how many
    replies were skipped. Replies already sent stay as they are."""
    skipped = 0
    with transaction.atomic():
        for deletion in deletions:
            if deletion.platform_message_id:
                target = {"in_reply_to__platform_message_id": deletion.platform_message_id}
                # One message at most (platform ids are unique per channel): no set-based write needed.
                for message in Message.objects.filter(
                    channel=channel, platform_message_id=deletion.platform_message_id, direction=Direction.INBOUND
                ).only("id", "meta"):
                    message.meta = {**(message.meta or {}), "deleted": deletion.reason}
                    message.save(update_fields=["meta"])
            else:
                target = {"conversation__platform_thread_id": deletion.thread_id}
            skipped += OutboxMessage.objects.filter(channel=channel, state=OutboxState.PENDING, **target).update(
                state=OutboxState.SKIPPED, last_error=f"deleted: {deletion.reason} before the reply was sent"
            )
    return skipped


def receive_events(*, channel: Channel, events: Sequence[Event]) -> InboundResult:
    """A webhook delivery's messages (stored, replies queued) and deletions (waiting replies
    skipped), in one transaction."""
    messages = [event for event in events if isinstance(event, InboundMessage)]
    deletions = [event for event in events if isinstance(event, Deletion)]
    if not deletions:
        return receive_messages(channel=channel, messages=messages)
    with transaction.atomic():
        result = receive_messages(channel=channel, messages=messages)
        result.deletions = len(deletions)
        result.replies_skipped = skip_replies_to_deleted(channel=channel, deletions=deletions)
    return result


def remember_webhook_token(*, channel: Channel, token: str, window: float, now: datetime | None = None) -> bool:
    """Note that a delivery to `channel` was signed with `token`; False when it was already
    used within `window` seconds (a replay). Older tokens are forgotten: their signatures'
    timestamps are refused anyway."""
    now = now or timezone.now()
    WebhookToken.objects.filter(seen_at__lt=now - timedelta(seconds=window)).delete()
    try:
        with transaction.atomic():
            WebhookToken.objects.create(channel=channel, token=token, seen_at=now)
    except IntegrityError:
        return False
    return True
