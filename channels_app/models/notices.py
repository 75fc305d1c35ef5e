"""What a plan tells people as it moves: emails to the people involved and the optional outgoing
webhook (DUSK_NOTIFY_WEBHOOK_URL), one row per recipient and event, written in the transaction
of the change they announce and sent after the commit (channels_app/plans/services/notices.py)."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from channels_app.models.runs import NotificationState


class PlanEvent(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted for approval")
    SENT_BACK = "sent_back", _("Sent back")
    APPROVED = "approved", _("Approved")
    RUN_STARTED = "run_started", _("Run started")
    RUN_FAILED = "run_failed", _("Run failed")
    DELIVERY_FAILURES = "delivery_failures", _("Messages not delivered")


class NoticeChannel(models.TextChoices):
    EMAIL = "email", _("Email")
    WEBHOOK = "webhook", _("Webhook")


class PlanNotice(models.Model):
    """One email to one person, or one webhook post, about one event of one plan.

    `occurrence` names the very change announced ("audit:<event id>" for a submission, a send-back
    or an approval; "run:<id>" for a run): with the unique key, writing the same notice twice
    writes it once, while the plan's next submission is a new one."""

    plan = models.ForeignKey("SunsetPlan", on_delete=models.PROTECT, related_name="notices")
    run = models.ForeignKey("CutoverRun", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    event = models.CharField(max_length=32, choices=PlanEvent.choices)
    occurrence = models.CharField(max_length=64)
    channel = models.CharField(max_length=16, choices=NoticeChannel.choices)
    recipient = models.EmailField(blank=True)  # empty for the webhook
    language = models.CharField(max_length=8, default="en")
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    payload = models.JSONField(null=True, blank=True)  # the webhook's JSON
    state = models.CharField(max_length=16, choices=NotificationState.choices, default=NotificationState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["occurrence", "event", "channel", "recipient"], name="plan_notice_once"),
        ]
        indexes = [
            # The sender's sweep reads only what is still to send.
            models.Index(
                fields=["next_attempt_at"],
                name="plan_notice_unsent",
                condition=Q(state__in=[NotificationState.PENDING, NotificationState.SENDING]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} by {self.channel} to {self.recipient or 'webhook'} [{self.state}]"

    @property
    def message_id(self) -> str:
        # Stable across retries so a receiving system can drop a repeat.
        return f"<dusk-plan-notice-{self.pk}@dusk.invalid>"

    @property
    def delivery_id(self) -> str:
        """The webhook's idempotency key, sent in the body and the Idempotency-Key header."""
        return f"dusk-plan-notice-{self.pk}"
