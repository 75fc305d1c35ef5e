"""The workforce side of a plan: staffing inputs per plan and the emails that tell
agents where they are going."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class PlanStaffing(models.Model):
    """Inputs HR can tune per plan. A plan without a row uses the field defaults
    (see docs/workforce.md for what each one means)."""

    plan = models.OneToOneField("SunsetPlan", on_delete=models.CASCADE, related_name="staffing")
    affected_share_threshold = models.FloatField(
        default=0.5,
        help_text=_("A team is affected when more than this share of its work is on retiring channels"),
    )
    volume_window_days = models.PositiveSmallIntegerField(
        default=28, help_text=_("Days of inbound messages used to measure work and volume")
    )
    aht_seconds = models.PositiveIntegerField(default=360, help_text=_("Average handle time per contact"))
    service_level_target = models.FloatField(default=0.8, help_text=_("Share answered within the answer time"))
    answer_seconds = models.PositiveIntegerField(default=20, help_text=_("Answer time of the service-level goal"))
    shrinkage = models.FloatField(default=0.3, help_text=_("Share of paid time not available for contacts"))
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(affected_share_threshold__gte=0) & Q(affected_share_threshold__lt=1),
                name="staffing_threshold_range",
            ),
            models.CheckConstraint(
                condition=Q(volume_window_days__gte=1) & Q(volume_window_days__lte=366), name="staffing_window_range"
            ),
            models.CheckConstraint(condition=Q(aht_seconds__gte=1), name="staffing_aht_positive"),
            models.CheckConstraint(
                condition=Q(service_level_target__gt=0) & Q(service_level_target__lt=1),
                name="staffing_service_level_range",
            ),
            models.CheckConstraint(condition=Q(shrinkage__gte=0) & Q(shrinkage__lt=1), name="staffing_shrinkage_range"),
        ]

    def __str__(self) -> str:
        return f"Staffing inputs of plan {self.plan_id}"


class NoticeState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    SKIPPED = "skipped", _("Skipped (the move changed before it was sent)")
    FAILED = "failed", _("Failed")


class AgentNotice(models.Model):
    """One email telling one agent their destination, role and effective date.
    The unique key is the decision itself, so asking twice sends once, and a
    changed decision gets its own email."""

    reassignment = models.ForeignKey("Reassignment", on_delete=models.CASCADE, related_name="notices")
    plan = models.ForeignKey("SunsetPlan", on_delete=models.CASCADE, related_name="agent_notices")
    agent = models.ForeignKey("Agent", on_delete=models.PROTECT, related_name="notices")
    to_team = models.ForeignKey("Team", on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=80, blank=True)
    effective_date = models.DateField()
    recipient = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()
    state = models.CharField(max_length=16, choices=NoticeState.choices, default=NoticeState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reassignment", "to_team", "effective_date", "role"], name="agent_notice_once_per_decision"
            ),
            models.CheckConstraint(condition=Q(state__in=NoticeState.values), name="agent_notice_state_valid"),
        ]
        indexes = [
            models.Index(fields=["id"], condition=Q(state__in=["pending", "sending"]), name="agent_notice_unsent"),
        ]

    def __str__(self) -> str:
        return f"notice to {self.recipient} [{self.state}]"

    @property
    def message_id(self) -> str:
        # Stable across retries so a receiving system can drop a repeat.
        return f"<dusk-agent-notice-{self.pk}@dusk.invalid>"
