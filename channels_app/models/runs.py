"""Cutover runs (one per phase execution) and the notifications they send."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class RunState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    # The database steps are done; the run's hand-off notices and emails are still going out.
    DELIVERING = "delivering", _("Delivering")
    COMPLETED = "completed", _("Completed")
    COMPLETED_WITH_FAILURES = "completed_with_failures", _("Completed with failures")
    FAILED = "failed", _("Failed")
    # Superseded: a later phase of the plan was already due, so this one never ran.
    SKIPPED = "skipped", _("Skipped")


# States in which the run's database work is over and it may be rolled back.
FINISHED_RUN_STATES = (RunState.DELIVERING, RunState.COMPLETED, RunState.COMPLETED_WITH_FAILURES)


class Step(models.TextChoices):
    FREEZE = "freeze", _("Freeze and re-check")
    CHANNELS = "channels", _("Channel states")
    PUBLISHING = "publishing", _("Public notice")
    CONVERSATIONS = "conversations", _("Open conversations")
    REASSIGNMENTS = "reassignments", _("Reassignments")
    NOTIFICATIONS = "notifications", _("Notifications")
    DELIVERING = "delivering", _("Delivering")
    DONE = "done", _("Done")


STEP_ORDER = list(Step.values)


class CutoverRun(models.Model):
    phase = models.OneToOneField("Phase", on_delete=models.PROTECT, related_name="run")
    plan = models.ForeignKey("SunsetPlan", on_delete=models.PROTECT, related_name="runs")
    state = models.CharField(max_length=32, choices=RunState.choices, default=RunState.QUEUED)
    # Set when the run was skipped because this later phase of the plan was already due.
    superseded_by = models.ForeignKey(
        "Phase", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_runs"
    )
    # When delivery ended (every hand-off notice and email sent or failed).
    delivered_at = models.DateTimeField(null=True, blank=True)
    current_step = models.CharField(max_length=16, choices=Step.choices, default=Step.FREEZE)
    # {step: {"done": n, "total": n, "started_at": iso, "finished_at": iso}}
    steps = models.JSONField(default=dict, blank=True)
    snapshot = models.JSONField(default=dict, blank=True)
    conversations_moved = models.PositiveIntegerField(default=0)
    handoffs_queued = models.PositiveIntegerField(default=0)
    agents_reassigned = models.PositiveIntegerField(default=0)
    notifications_sent = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    worker_id = models.CharField(max_length=200, blank=True)
    lease = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    rolled_back_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rollback_summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=RunState.values), name="run_state_valid"),
        ]
        indexes = [
            models.Index(fields=["heartbeat_at"], condition=Q(state__in=["queued", "running"]), name="run_active"),
            models.Index(fields=["id"], condition=Q(state="delivering"), name="run_delivering"),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of phase {self.phase_id}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class NotificationState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Notification(models.Model):
    """One email to one person about one phase. The unique key makes the
    cutover's set-based insert safe to repeat."""

    run = models.ForeignKey(CutoverRun, on_delete=models.PROTECT, related_name="notifications")
    kind = models.CharField(max_length=32)
    recipient = models.EmailField()
    agent = models.ForeignKey("Agent", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    subject = models.CharField(max_length=200)
    body = models.TextField()
    state = models.CharField(max_length=16, choices=NotificationState.choices, default=NotificationState.PENDING)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "kind", "recipient"], name="notification_once"),
        ]
        indexes = [
            # The run's sender takes its pending emails batch by batch in id order; without this a
            # batch re-reads every email of the run (quadratic in the run's size).
            models.Index(fields=["run", "id"], condition=Q(state="pending"), name="notification_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient} [{self.state}]"

    @property
    def message_id(self) -> str:
        # Stable across retries so a receiving system can drop a repeat.
        return f"<dusk-notification-{self.pk}@dusk.invalid>"


class Reminder(models.Model):
    """One reminder email for one phase, offset and person. The unique key is
    what makes it exactly once, whatever happens to beat."""

    phase = models.ForeignKey("Phase", on_delete=models.CASCADE, related_name="reminders")
    offset_seconds = models.PositiveIntegerField()
    recipient = models.EmailField()
    role = models.CharField(max_length=32)
    state = models.CharField(max_length=16, choices=NotificationState.choices, default=NotificationState.PENDING)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["phase", "offset_seconds", "recipient"], name="reminder_once"),
        ]

    def __str__(self) -> str:
        return f"reminder {self.offset_seconds}s before phase {self.phase_id} to {self.recipient}"

    @property
    def message_id(self) -> str:
        return f"<dusk-reminder-{self.pk}@dusk.invalid>"
