"""Conversations with customers, their messages, and what waits to be sent."""

import secrets

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read out over the phone


def new_reference() -> str:
    # Every inbound message asks for one: a single read of the OS's randomness instead of eight
    # secrets.choice calls (a third of the cost). Bytes from 248 (31 x 8) up are dropped so each
    # of the 31 characters stays equally likely.
    chars: list[str] = []
    while len(chars) < 8:
        chars.extend(_ALPHABET[byte % len(_ALPHABET)] for byte in secrets.token_bytes(12) if byte < 248)
    return "DSK-" + "".join(chars[:8])


class ConversationState(models.TextChoices):
    OPEN = "open", _("Open")
    REDIRECTED = "redirected", _("Moved to redirect queue")
    CLOSED = "closed", _("Closed")


class Conversation(models.Model):
    # No index of its own: conversation_thread_unique (channel, platform_thread_id) leads with it.
    channel = models.ForeignKey("Channel", on_delete=models.PROTECT, related_name="conversations", db_index=False)
    platform_thread_id = models.CharField(max_length=128)
    customer_id = models.CharField(max_length=128)
    customer_handle = models.CharField(max_length=255, blank=True)
    customer_name = models.CharField(max_length=255, blank=True)
    locale = models.CharField(max_length=10, blank=True)
    # Unique by a constraint rather than unique=True, which on PostgreSQL also builds a LIKE
    # (varchar_pattern_ops) index that no query uses and every inbound message would pay for.
    reference = models.CharField(max_length=16, default=new_reference)
    state = models.CharField(max_length=16, choices=ConversationState.choices, default=ConversationState.OPEN)
    # Set only when a cutover moves the conversation: indexed where set (Meta), so a new
    # conversation writes no index entry for them.
    redirected_to = models.ForeignKey(
        "RedirectTarget", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    moved_by_run = models.ForeignKey(
        "CutoverRun",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="moved_conversations",
        db_index=False,
    )
    opened_at = models.DateTimeField()
    last_message_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_message_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "platform_thread_id"], name="conversation_thread_unique"),
            models.UniqueConstraint(fields=["reference"], name="conversation_reference_unique"),
            models.CheckConstraint(condition=Q(state__in=ConversationState.values), name="conversation_state_valid"),
        ]
        indexes = [
            models.Index(fields=["channel", "id"], condition=Q(state="open"), name="open_conversations"),
            models.Index(
                fields=["moved_by_run"], condition=Q(moved_by_run__isnull=False), name="conversation_moved_by"
            ),
            models.Index(
                fields=["redirected_to"], condition=Q(redirected_to__isnull=False), name="conversation_redirected_to"
            ),
        ]

    def __str__(self) -> str:
        return self.reference


class Direction(models.TextChoices):
    INBOUND = "in", _("Inbound")
    OUTBOUND = "out", _("Outbound")


class Message(models.Model):
    # No index of its own: platform_message_unique (channel, platform_message_id) leads with it.
    # A second index on channel alone also misled PostgreSQL: the storing statement, prepared
    # once per connection, could settle on a generic plan that found a replied-to message by
    # reading every message of the channel (see services/inbound.py).
    channel = models.ForeignKey("Channel", on_delete=models.PROTECT, related_name="messages", db_index=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="messages")
    platform_message_id = models.CharField(max_length=128)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    author_id = models.CharField(max_length=128, blank=True)
    text = models.TextField()
    lang = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    # What a reply needs beyond the text: the author's name, an email's subject and whether it
    # was sent by a machine (RFC 3834), a forum post's number in its topic.
    meta = models.JSONField(default=dict, db_default=models.Value({}, models.JSONField()), blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "platform_message_id"], name="platform_message_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.platform_message_id}"


class OutboxKind(models.TextChoices):
    HANDOFF = "handoff", _("Hand-off notice")
    AUTO_REPLY = "auto_reply", _("Auto-reply")


class OutboxState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed permanently")
    SKIPPED = "skipped", _("Skipped")


class OutboxMessage(models.Model):
    """A reply to send on a platform. Written in the same transaction as what
    caused it; `dedupe_key` makes a second write of the same reply a no-op."""

    channel = models.ForeignKey("Channel", on_delete=models.PROTECT, related_name="outbox")
    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="outbox")
    in_reply_to = models.ForeignKey(Message, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=OutboxKind.choices)
    phase_kind = models.CharField(max_length=16, blank=True)
    # Unique by a constraint (Meta): unique=True would add a LIKE index nothing uses.
    dedupe_key = models.CharField(max_length=200)
    # Set on hand-off notices only: indexed where set (Meta), so an auto-reply writes no entry.
    created_by_run = models.ForeignKey(
        "CutoverRun", null=True, blank=True, on_delete=models.PROTECT, related_name="outbox_messages", db_index=False
    )
    state = models.CharField(max_length=16, choices=OutboxState.choices, default=OutboxState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    rendered_text = models.TextField(blank=True)
    platform_response_id = models.CharField(max_length=128, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    # Set by the sender's conditional UPDATE (pending -> sending); a row left in "sending" by a
    # worker that died goes back to pending once claimed_at is older than DUSK_OUTBOX_STUCK_AFTER.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # db_default: the cutover writes hand-off rows with INSERT ... SELECT, naming its columns.
    claimed_by = models.CharField(max_length=64, blank=True, default="", db_default="")
    # When an attempt may have reached the platform without us learning the outcome (a worker
    # killed mid-send, a read timeout, a 5xx): the next attempt first looks on the platform for
    # our reply posted since then, and records it instead of sending again.
    in_doubt_since = models.DateTimeField(null=True, blank=True)
    # Set when someone queued a failed row again: its cooldown was decided on its first attempt,
    # so the retry sends it rather than skipping it for a cooldown it already passed.
    requeued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=OutboxState.values), name="outbox_state_valid"),
            models.CheckConstraint(condition=Q(kind__in=OutboxKind.values), name="outbox_kind_valid"),
            models.CheckConstraint(
                condition=~Q(state="sent") | (Q(sent_at__isnull=False) & ~Q(platform_response_id="")),
                name="outbox_sent_has_response",
            ),
            models.UniqueConstraint(fields=["dedupe_key"], name="outbox_dedupe_key_unique"),
        ]
        indexes = [
            models.Index(
                fields=["created_by_run"], condition=Q(created_by_run__isnull=False), name="outbox_created_by_run"
            ),
            models.Index(fields=["next_attempt_at", "id"], condition=Q(state="pending"), name="outbox_pending"),
            models.Index(fields=["claimed_at"], condition=Q(state="sending"), name="outbox_sending"),
            models.Index(fields=["channel", "state"], condition=Q(state="failed"), name="outbox_failed"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.dedupe_key} [{self.state}]"
