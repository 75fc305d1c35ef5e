"""Storing what customers send: one message, its conversation and (past notice) its reply.

Called by the webhooks and the YouTube poller. Every message costs three statements in one
transaction, none of them a read-then-write:

1. upsert the conversation by (channel, thread) and get back its id and state;
2. insert the message, ignoring a duplicate platform id (``ON CONFLICT DO NOTHING RETURNING``);
3. when the message is new and the channel is past notice, insert the outbox row for the reply
   (its ``dedupe_key`` comes from the platform id, so it can never be written twice).

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

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from ..adapters import InboundMessage
from ..adapters import email as email_adapter
from ..models import (
    Channel,
    ChannelKind,
    ChannelState,
    Conversation,
    ConversationState,
    Direction,
    Message,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    PhaseKind,
    new_reference,
)

ID_MAX = 128  # Message.platform_message_id, Conversation.platform_thread_id / customer_id


def phase_kind_for(channel: Channel) -> str | None:
    """The phase whose auto-reply answers this channel's messages now; None while active."""
    if channel.state == ChannelState.NOTICE:
        return PhaseKind.NOTICE
    if channel.state == ChannelState.SOFT_CLOSED:
        return PhaseKind.SOFT_CLOSE
    if channel.state == ChannelState.RETIRED:
        return PhaseKind.ARCHIVE if channel.archived_at else PhaseKind.HARD_CLOSE
    return None


def reply_dedupe_key(channel_id: int, platform_message_id: str) -> str:
    return f"reply:{channel_id}:{platform_message_id}"


@dataclass
class InboundResult:
    stored: int = 0
    duplicates: int = 0
    replies_queued: int = 0
    message_ids: list[int] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"stored": self.stored, "duplicates": self.duplicates, "replies_queued": self.replies_queued}


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


def _meta(channel: Channel, message: InboundMessage) -> dict:
    meta: dict = {}
    if message.customer_name:
        meta["name"] = _clean(message.customer_name, 255)
    raw = message.raw or {}
    if channel.kind == ChannelKind.EMAIL:
        meta["subject"] = _clean(str(raw.get("subject") or ""), 500)
        meta["address"] = _clean(message.customer_handle, 255)
        references = (raw.get("parsed_headers") or {}).get("references") or ""
        if references:
            meta["references"] = _clean(references, 2000)
        automatic = email_adapter.automatic_reason(message)
        if automatic:
            meta["automatic"] = automatic
    elif channel.kind == ChannelKind.DISCOURSE and raw.get("post_number") is not None:
        meta["post_number"] = raw["post_number"]
    return meta


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _sql() -> dict[str, str]:
    conv, msg, out = _table(Conversation), _table(Message), _table(OutboxMessage)
    return {
        # A reply to a message we know joins that message's conversation (X gives no thread id;
        # a customer answering our auto-reply tweet answers a message of ours).
        "conversation": f"""
            INSERT INTO {conv} AS c (channel_id, platform_thread_id, customer_id, customer_handle, customer_name,
                                     locale, reference, state, opened_at, last_message_at)
            VALUES (%s, COALESCE((SELECT c2.platform_thread_id FROM {msg} m JOIN {conv} c2 ON c2.id = m.conversation_id
                                  WHERE m.channel_id = %s AND m.platform_message_id = %s), %s),
                    %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (channel_id, platform_thread_id) DO UPDATE
                SET last_message_at = CASE WHEN EXCLUDED.last_message_at > c.last_message_at
                                           THEN EXCLUDED.last_message_at ELSE c.last_message_at END
            RETURNING id, state
        """,
        "message": f"""
            INSERT INTO {msg} (channel_id, conversation_id, platform_message_id, direction, author_id, text, lang,
                               created_at, received_at, meta)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (channel_id, platform_message_id) DO NOTHING
            RETURNING id
        """,
        "outbox": f"""
            INSERT INTO {out} (channel_id, conversation_id, in_reply_to_id, kind, phase_kind, dedupe_key, state,
                               attempts, rendered_text, platform_response_id, last_error, created_at, claimed_by)
            VALUES (%s, %s, %s, %s, %s, %s, %s, 0, '', '', '', %s, '')
            ON CONFLICT (dedupe_key) DO NOTHING
            RETURNING id
        """,
    }


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
    phase_kind = phase_kind_for(channel)
    new_state = (
        ConversationState.OPEN
        if channel.state in (ChannelState.ACTIVE, ChannelState.NOTICE)
        else ConversationState.CLOSED
    )
    sql = _sql()
    with transaction.atomic(), connection.cursor() as cur:
        for message in messages:
            cur.execute(
                sql["conversation"],
                [
                    channel.pk,
                    channel.pk,
                    message.in_reply_to or "",
                    message.thread_id,
                    message.customer_id,
                    _clean(message.customer_handle, 255),
                    _clean(message.customer_name, 255),
                    _clean(message.lang, 10),
                    new_reference(),
                    new_state,
                    message.created_at,
                    message.created_at,
                ],
            )
            conversation_id, conversation_state = cur.fetchone()
            cur.execute(
                sql["message"],
                [
                    channel.pk,
                    conversation_id,
                    message.platform_message_id,
                    Direction.INBOUND,
                    message.customer_id,
                    _clean(message.text, 1_000_000),
                    _clean(message.lang, 10),
                    message.created_at,
                    now,
                    json.dumps(_meta(channel, message)),
                ],
            )
            row = cur.fetchone()
            if row is None:
                result.duplicates += 1
                continue
            message_id = row[0]
            result.stored += 1
            result.message_ids.append(message_id)
            if phase_kind is None:
                continue
            if phase_kind == PhaseKind.SOFT_CLOSE and conversation_state == ConversationState.OPEN:
                continue  # an open conversation: people still answer it
            cur.execute(
                sql["outbox"],
                [
                    channel.pk,
                    conversation_id,
                    message_id,
                    OutboxKind.AUTO_REPLY,
                    phase_kind,
                    reply_dedupe_key(channel.pk, message.platform_message_id),
                    OutboxState.PENDING,
                    now,
                ],
            )
            outbox = cur.fetchone()
            if outbox is not None:
                result.replies_queued += 1
                result.outbox_ids.append(outbox[0])
    return result
