"""Bookkeeping of the outbox sender shared by every worker: cooldowns and send pacing."""

from django.db import models


class ReplyCooldown(models.Model):
    """The last auto-reply to one customer on one channel.

    The sender claims the row with a conditional upsert (granted only when the last reply is
    older than the cooldown window, or was granted to the same outbox row before), so two
    workers answering two messages of the same customer at once cannot both send.
    """

    channel = models.ForeignKey("Channel", on_delete=models.PROTECT, related_name="+")
    customer_id = models.CharField(max_length=128)
    last_reply_at = models.DateTimeField()
    outbox = models.ForeignKey("OutboxMessage", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "customer_id"], name="reply_cooldown_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.customer_id} at {self.last_reply_at:%Y-%m-%d %H:%M:%S}"


class SendBudget(models.Model):
    """Pacing of one channel's platform calls across all workers (GCRA).

    `next_slot_at` is the earliest instant the next send may go out; every send moves it
    60 / rate_limit_per_minute seconds further, under a row lock. A 429 pushes it to the
    platform's Retry-After so every worker holds off that channel.
    """

    channel = models.OneToOneField("Channel", on_delete=models.PROTECT, primary_key=True, related_name="send_budget")
    next_slot_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"channel {self.channel_id}: next send at {self.next_slot_at:%H:%M:%S.%f}"


class WebhookToken(models.Model):
    """A one-time token a signed webhook delivery carried (Mailgun's `token`), kept while its
    signature's timestamp is accepted: a signature covers timestamp and token only, not the
    body, so the same fields sent again with another body must be refused."""

    channel = models.ForeignKey("Channel", on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=256)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "token"], name="webhook_token_once")]
        indexes = [models.Index(fields=["seen_at"], name="webhook_token_seen")]

    def __str__(self) -> str:
        return f"token of channel {self.channel_id}"
