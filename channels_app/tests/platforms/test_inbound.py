"""services.receive_messages: one round trip per statement, duplicates ignored, replies queued
in the same transaction when the channel is past notice."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from channels_app.models import (
    ChannelState,
    Conversation,
    ConversationState,
    Message,
    OutboxMessage,
    OutboxState,
    PhaseKind,
)
from channels_app.platforms.adapters.base import InboundMessage
from channels_app.platforms.services.inbound import receive_messages
from channels_app.tests.support.factories import ConversationFactory, MessageFactory
from channels_app.tests.support.inbound_helpers import platform_channel, sunset

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def msg(pid: str, *, thread: str | None = None, customer: str = "42", text: str = "where is my order?", **kw):
    return InboundMessage(
        platform_message_id=pid,
        thread_id=thread or pid,
        customer_id=customer,
        customer_handle=kw.pop("handle", f"cust{customer}"),
        customer_name=kw.pop("name", "Ana Pérez"),
        text=text,
        lang=kw.pop("lang", "en"),
        created_at=kw.pop("created_at", T0),
        in_reply_to=kw.pop("in_reply_to", None),
        raw=kw.pop("raw", {}),
    )


def test_a_message_on_an_active_channel_is_stored_and_left_to_people():
    channel = platform_channel("x")
    result = receive_messages(channel=channel, messages=[msg("1001")])
    assert result.as_dict() == {"stored": 1, "duplicates": 0, "replies_queued": 0}
    message = Message.objects.get()
    assert (message.platform_message_id, message.direction, message.author_id) == ("1001", "in", "42")
    assert message.meta == {"name": "Ana Pérez"}
    conversation = message.conversation
    assert conversation.state == ConversationState.OPEN
    assert (conversation.platform_thread_id, conversation.customer_handle, conversation.locale) == (
        "1001",
        "cust42",
        "en",
    )
    assert conversation.reference.startswith("DSK-")
    assert not OutboxMessage.objects.exists()


def test_a_duplicate_delivery_stores_nothing_more(manager, approver):
    channel = platform_channel("x")
    sunset(manager=manager, approver=approver, channels=[channel])
    first = receive_messages(channel=channel, messages=[msg("1001"), msg("1002", customer="43")])
    again = receive_messages(channel=channel, messages=[msg("1002", customer="43"), msg("1001")])
    assert first.as_dict() == {"stored": 2, "duplicates": 0, "replies_queued": 2}
    assert again.as_dict() == {"stored": 0, "duplicates": 2, "replies_queued": 0}
    assert Message.objects.count() == 2
    assert Conversation.objects.count() == 2
    assert OutboxMessage.objects.count() == 2


def test_a_reply_joins_the_conversation_of_the_message_it_answers():
    channel = platform_channel("x")
    receive_messages(channel=channel, messages=[msg("1001", created_at=T0)])
    later = T0 + timedelta(minutes=5)
    # X gives no conversation id: the replied-to tweet (1001) is the thread hint.
    receive_messages(channel=channel, messages=[msg("1002", thread="1001", in_reply_to="1001", created_at=later)])
    conversation = Conversation.objects.get()
    assert conversation.messages.count() == 2
    assert conversation.last_message_at == later
    # An older message arriving late does not move last_message_at back.
    receive_messages(channel=channel, messages=[msg("1000", thread="1001", created_at=T0 - timedelta(hours=1))])
    conversation.refresh_from_db()
    assert conversation.last_message_at == later


def test_a_customer_answering_our_reply_stays_in_the_conversation():
    channel = platform_channel("x")
    receive_messages(channel=channel, messages=[msg("1001")])
    conversation = Conversation.objects.get()
    MessageFactory(
        channel=channel,
        conversation=conversation,
        platform_message_id="1850000000000000001",
        direction="out",
        text="we moved",
        created_at=T0,
    )
    receive_messages(
        channel=channel, messages=[msg("1005", thread="1850000000000000001", in_reply_to="1850000000000000001")]
    )
    assert Conversation.objects.count() == 1
    assert conversation.messages.filter(direction="in").count() == 2


def test_a_retired_channel_queues_one_auto_reply_per_new_message(manager, approver):
    channel = platform_channel("x")
    sunset(manager=manager, approver=approver, channels=[channel])
    assert channel.state == ChannelState.RETIRED
    result = receive_messages(channel=channel, messages=[msg("1001"), msg("1002", customer="43")])
    assert result.replies_queued == 2
    rows = list(OutboxMessage.objects.order_by("id"))
    assert [(r.kind, r.phase_kind, r.state, r.in_reply_to.platform_message_id) for r in rows] == [
        ("auto_reply", PhaseKind.HARD_CLOSE, OutboxState.PENDING, "1001"),
        ("auto_reply", PhaseKind.HARD_CLOSE, OutboxState.PENDING, "1002"),
    ]
    assert rows[0].dedupe_key == f"reply:{channel.pk}:1001"
    # Nobody will answer on a retired channel: new conversations are stored closed.
    assert set(Conversation.objects.values_list("state", flat=True)) == {ConversationState.CLOSED}


def test_the_notice_phase_warns_and_people_still_answer(manager, approver):
    channel = platform_channel("x")
    sunset(manager=manager, approver=approver, channels=[channel], until=PhaseKind.NOTICE)
    assert channel.state == ChannelState.NOTICE
    receive_messages(channel=channel, messages=[msg("1001")])
    assert Conversation.objects.get().state == ConversationState.OPEN
    assert OutboxMessage.objects.get().phase_kind == PhaseKind.NOTICE


def test_soft_close_answers_new_conversations_and_leaves_open_ones_to_people(manager, approver):
    channel = platform_channel("x")
    open_one = ConversationFactory(channel=channel, platform_thread_id="900")
    sunset(manager=manager, approver=approver, channels=[channel], until=PhaseKind.SOFT_CLOSE)
    assert channel.state == ChannelState.SOFT_CLOSED
    result = receive_messages(
        channel=channel,
        messages=[
            msg("1001", thread="900", in_reply_to="900"),  # a reply in an open conversation
            msg("1002", customer="43"),  # a new conversation
        ],
    )
    assert result.as_dict() == {"stored": 2, "duplicates": 0, "replies_queued": 1}
    reply = OutboxMessage.objects.get()
    assert (reply.in_reply_to.platform_message_id, reply.phase_kind) == ("1002", PhaseKind.SOFT_CLOSE)
    open_one.refresh_from_db()
    assert open_one.state == ConversationState.OPEN
    assert reply.conversation.state == ConversationState.CLOSED
    # The customer writing again in the new (closed) conversation is answered again, cooldown permitting.
    again = receive_messages(channel=channel, messages=[msg("1003", thread="1002", customer="43")])
    assert again.replies_queued == 1


def test_bad_messages_are_refused_and_nothing_is_written(manager, approver):
    channel = platform_channel("x")
    sunset(manager=manager, approver=approver, channels=[channel])
    good = msg("1001")
    for bad in (
        msg("", customer="43"),
        msg("x" * 129),
        msg("1002", created_at=datetime(2026, 10, 1, 9, 0)),  # naive
        msg("1003", thread=" "),
    ):
        with pytest.raises(ValidationError):
            receive_messages(channel=channel, messages=[good, bad])
    assert not Message.objects.exists() and not OutboxMessage.objects.exists() and not Conversation.objects.exists()


def test_nul_characters_are_dropped_from_text_and_names():
    channel = platform_channel("x")
    receive_messages(channel=channel, messages=[msg("1001", text="hel\x00lo", name="A\x00na")])
    message = Message.objects.get()
    assert message.text == "hello"
    assert message.conversation.customer_name == "Ana"


def test_an_automatic_email_is_stored_with_why(manager, approver):
    channel = platform_channel("email")
    raw = {"subject": "Out of office", "parsed_headers": {"auto-submitted": "auto-replied"}}
    receive_messages(
        channel=channel, messages=[msg("<a@x>", customer="bob@example.com", handle="bob@example.com", raw=raw)]
    )
    meta = Message.objects.get().meta
    assert meta["automatic"] == "Auto-Submitted: auto-replied"
    assert meta["subject"] == "Out of office"
    assert meta["address"] == "bob@example.com"


@pytest.mark.parametrize("n", [1, 10])
def test_each_message_costs_one_round_trip_on_postgresql(manager, approver, django_assert_num_queries, n):
    channel = platform_channel("x")
    sunset(manager=manager, approver=approver, channels=[channel])
    messages = [msg(str(1000 + i), customer=str(i)) for i in range(n)]
    if connection.vendor == "postgresql":
        # One statement per message (conversation upsert, message insert and reply insert as
        # data-modifying CTEs); several messages share a SAVEPOINT/RELEASE (a transaction
        # outside tests). A single message needs no transaction: one statement is atomic.
        expected = n + (2 if n > 1 else 0)
        repeat = expected
    else:
        # SAVEPOINT, three statements per message, RELEASE; a repeat stops after the message insert.
        expected, repeat = 2 + 3 * n, 2 + 2 * n
    with django_assert_num_queries(expected):
        receive_messages(channel=channel, messages=messages)
    with django_assert_num_queries(repeat):
        assert receive_messages(channel=channel, messages=messages).duplicates == n


def _message_rows_read() -> int:
    """Rows of the message table this transaction has read so far (PostgreSQL's own counters)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables"
            " WHERE relname = %s",
            [Message._meta.db_table],
        )
        return cur.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan cache and counters")
def test_storing_a_message_reads_the_same_few_rows_however_many_the_channel_holds(manager, approver):
    channel = platform_channel("x")
    sunset(manager=manager, approver=approver, channels=[channel])
    with connection.cursor() as cur:
        # A pooled connection lives for hours: PostgreSQL settles on one generic plan for the
        # prepared storing statement, planned while the tables were small. Force that here,
        # from the very first execution on empty tables.
        cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    for i in range(6):
        receive_messages(channel=channel, messages=[msg(str(100 + i), customer=str(i))])
    conversation = Conversation.objects.filter(channel=channel).first()
    Message.objects.bulk_create(
        Message(
            channel=channel,
            conversation=conversation,
            platform_message_id=str(10_000 + i),
            direction="in",
            text="hello",
            created_at=T0,
        )
        for i in range(5_000)
    )
    for pid, in_reply_to in (("900001", None), ("900002", "10042"), ("900003", "no-such-tweet")):
        before = _message_rows_read()
        result = receive_messages(
            channel=channel, messages=[msg(pid, customer=pid, thread=in_reply_to, in_reply_to=in_reply_to)]
        )
        assert result.stored == 1 and result.replies_queued == 1
        # A replied-to message is found by its id in platform_message_unique: one row at most,
        # not every message of the channel.
        assert _message_rows_read() - before <= 2, pid
    joined = Message.objects.get(platform_message_id="900002")
    assert joined.conversation_id == conversation.pk


def test_conversation_references_use_the_phone_friendly_alphabet_evenly():
    from collections import Counter

    from channels_app.models import new_reference
    from channels_app.models.conversations import _ALPHABET

    references = [new_reference() for _ in range(3_000)]
    assert all(len(ref) == 12 and ref.startswith("DSK-") and set(ref[4:]) <= set(_ALPHABET) for ref in references)
    counts = Counter("".join(ref[4:] for ref in references))
    # 24,000 draws over 31 characters: about 774 each; a biased draw would show far outside this.
    assert set(counts) == set(_ALPHABET) and all(650 < n < 900 for n in counts.values())
