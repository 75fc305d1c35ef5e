"""The workforce side of a plan: staffing inputs per plan and the emails that tell
agents where they are going."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from channels_app.models.runs import NotificationState


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


# --- the agent's answer (the agent's personal page, docs/workforce.md) ------------------------------


class AnswerKind(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    CONCERN = "concern", _("Has a question or concern")
    OTHER_TEAM = "other_team", _("Would prefer another team")


class AgentAnswer(models.Model):
    """What the agent answered about their move on their page, and HR's reply. One row per move:
    a new answer replaces the last (the audit trail keeps every one). `about_team` is the
    destination the agent answered about: once HR sends them elsewhere, the answer is about an
    earlier decision and the agent has not answered the current one."""

    reassignment = models.OneToOneField("Reassignment", on_delete=models.CASCADE, related_name="answer")
    about_team = models.ForeignKey("Team", on_delete=models.PROTECT, related_name="+")
    answer = models.CharField(max_length=16, choices=AnswerKind.choices)
    concern = models.TextField(blank=True)
    preferred_team = models.ForeignKey("Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    answered_at = models.DateTimeField()
    hr_reply = models.TextField(blank=True)
    hr_replied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    hr_replied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(answer__in=AnswerKind.values), name="agent_answer_kind_valid"),
            models.CheckConstraint(
                condition=~Q(answer=AnswerKind.OTHER_TEAM) | Q(preferred_team__isnull=False),
                name="agent_answer_other_team_named",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reassignment_id}: {self.answer}"


class ChecklistTick(models.Model):
    """An onboarding item the agent ticked on their page."""

    reassignment = models.ForeignKey("Reassignment", on_delete=models.CASCADE, related_name="ticks")
    item = models.ForeignKey("OnboardingItem", on_delete=models.CASCADE, related_name="ticks")
    ticked_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["reassignment", "item"], name="checklist_tick_once")]

    def __str__(self) -> str:
        return f"{self.reassignment_id} ticked {self.item_id}"


class AgentMessageKind(models.TextChoices):
    REPLY = "reply", _("HR reply")
    REMINDER = "reminder", _("Reminder")
    LINK = "link", _("New link")


class AgentMessage(models.Model):
    """An email to an agent about their move other than the move itself: HR's reply to their
    answer, a reminder to answer, or a new link to their page. `key` names the occurrence
    ("reply:<audit event id>", "reminder:<offset seconds>", "link:<audit event id>"): with the unique key, writing it twice writes it once, so each
    reminder goes to each agent exactly once whatever beat and the workers do."""

    reassignment = models.ForeignKey("Reassignment", on_delete=models.CASCADE, related_name="agent_messages")
    kind = models.CharField(max_length=16, choices=AgentMessageKind.choices)
    key = models.CharField(max_length=64)
    recipient = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()
    state = models.CharField(max_length=16, choices=NotificationState.choices, default=NotificationState.PENDING)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["reassignment", "kind", "key"], name="agent_message_once"),
        ]
        indexes = [
            models.Index(
                fields=["id"],
                condition=Q(state__in=[NotificationState.PENDING, NotificationState.SENDING]),
                name="agent_message_unsent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} to {self.recipient} [{self.state}]"

    @property
    def message_id(self) -> str:
        return f"<dusk-agent-message-{self.pk}@dusk.invalid>"
