"""Sunset plans and what they carry: phases, redirects, auto-replies, reassignments."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from channels_app.models.channels import Channel


class PlanState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PENDING_APPROVAL = "pending_approval", _("Pending approval")
    SCHEDULED = "scheduled", _("Scheduled")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    ROLLED_BACK = "rolled_back", _("Rolled back")


# A channel may belong to at most one plan in these states at a time.
OPEN_PLAN_STATES = (
    PlanState.DRAFT,
    PlanState.PENDING_APPROVAL,
    PlanState.SCHEDULED,
    PlanState.RUNNING,
)


class SunsetPlanQuerySet(models.QuerySet):
    def for_list(self):
        """Plans as list rows: author, channel names (`listed_channels`) and phases in time
        order (`listed_phases`) as plain lists, with only the columns a row shows."""
        return (
            self.select_related("author")
            .only("title", "state", "author__username", "submitted_at", "created_at")
            .prefetch_related(
                models.Prefetch(
                    "channels", queryset=Channel.objects.only("name").order_by("name"), to_attr="listed_channels"
                ),
                models.Prefetch(
                    "phases",
                    queryset=Phase.objects.only("plan_id", "kind", "instant", "state").order_by("instant", "id"),
                    to_attr="listed_phases",
                ),
            )
            .order_by("-created_at", "-id")
        )

    def open(self):
        return self.filter(state__in=OPEN_PLAN_STATES)


class SunsetPlan(models.Model):
    title = models.CharField(max_length=200)
    state = models.CharField(max_length=20, choices=PlanState.choices, default=PlanState.DRAFT)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="authored_plans")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="approved_plans"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True)
    default_locale = models.CharField(max_length=10, default="en")
    # At the archive phase, unpin the public notice's forum topic (Discourse).
    unpin_notice_at_archive = models.BooleanField(default=True)
    channels = models.ManyToManyField("Channel", through="PlanChannel", related_name="plans")
    version = models.PositiveIntegerField(default=1, help_text=_("Bumped on every edit"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SunsetPlanQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The plan lists (newest first) and the approval queue (oldest submission first)
            # read a page from an index instead of sorting every plan.
            models.Index(fields=["-created_at", "-id"], name="plan_newest"),
            models.Index(
                fields=["submitted_at", "id"], condition=Q(state="pending_approval"), name="plan_approval_queue"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=PlanState.values), name="plan_state_valid"),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=models.F("author")),
                name="plan_approver_is_not_author",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class PlanChannel(models.Model):
    """A channel retired by a plan. `is_open` mirrors whether the plan is open so
    the database itself enforces one open plan per channel."""

    plan = models.ForeignKey(SunsetPlan, on_delete=models.CASCADE, related_name="plan_channels")
    channel = models.ForeignKey("Channel", on_delete=models.PROTECT, related_name="plan_channels")
    is_open = models.BooleanField(default=True)
    # Follow-the-sun: the region whose phases retire this channel ("" = every phase).
    region = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["plan", "channel"], name="plan_channel_unique"),
            models.UniqueConstraint(fields=["channel"], condition=Q(is_open=True), name="one_open_plan_per_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id}:{self.channel_id}"


class PhaseKind(models.TextChoices):
    NOTICE = "notice", _("Notice")
    SOFT_CLOSE = "soft_close", _("Soft close")
    HARD_CLOSE = "hard_close", _("Hard close")
    ARCHIVE = "archive", _("Archive")


PHASE_ORDER = [PhaseKind.NOTICE, PhaseKind.SOFT_CLOSE, PhaseKind.HARD_CLOSE, PhaseKind.ARCHIVE]


class PhaseState(models.TextChoices):
    PENDING = "pending", _("Pending")  # plan not approved yet
    SCHEDULED = "scheduled", _("Scheduled")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    ROLLED_BACK = "rolled_back", _("Rolled back")
    # A later phase of the plan was already due when this one came up: it never ran.
    SKIPPED = "skipped", _("Skipped (superseded)")


class Phase(models.Model):
    """One step of a sunset at one instant. The instant is stored in UTC; the
    local date, time and IANA zone it was written in are kept beside it."""

    plan = models.ForeignKey(SunsetPlan, on_delete=models.CASCADE, related_name="phases")
    kind = models.CharField(max_length=16, choices=PhaseKind.choices)
    region = models.CharField(max_length=64, blank=True, default="")
    local_date = models.DateField()
    local_time = models.TimeField()
    time_zone = models.CharField(max_length=64)
    instant = models.DateTimeField()
    state = models.CharField(max_length=16, choices=PhaseState.choices, default=PhaseState.PENDING)

    class Meta:
        ordering = ["instant", "id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "kind", "region"], name="phase_kind_once_per_region"),
            models.CheckConstraint(condition=Q(kind__in=PhaseKind.values), name="phase_kind_valid"),
            models.CheckConstraint(condition=Q(state__in=PhaseState.values), name="phase_state_valid"),
        ]
        # The beat sweep reads only scheduled phases: keep that index small.
        indexes = [
            models.Index(fields=["instant"], condition=Q(state="scheduled"), name="phase_due"),
            # The dashboard walks phases in time order to find the soonest plans.
            models.Index(fields=["instant", "id"], name="phase_in_time_order"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.instant:%Y-%m-%d %H:%M}Z"


class PlanRegion(models.Model):
    """A region of a follow-the-sun plan: its IANA zone turns one local time
    ("1 October 00:00") into this region's own instant."""

    plan = models.ForeignKey(SunsetPlan, on_delete=models.CASCADE, related_name="regions")
    name = models.CharField(max_length=64)
    time_zone = models.CharField(max_length=64)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["plan", "name"], name="plan_region_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.time_zone})"


class RedirectKind(models.TextChoices):
    PHONE = "phone", _("Phone number")
    URL = "url", _("Web page")
    APP = "app", _("App link")


class ReferenceMode(models.TextChoices):
    """How a web or app target is told the customer's reference when they choose it on the
    landing page."""

    DEFAULT = "", _("As the landing page says")
    QUERY = "query", _("Query parameter")
    FORM_GET = "form_get", _("Form field (GET)")
    FORM_POST = "form_post", _("Form field (POST)")
    NONE = "none", _("Not passed on")


# The name of a query parameter or form field that carries the reference: it is written into
# links and forms that customers follow, so only a safe identifier.
REFERENCE_NAME = r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$"


class RedirectTarget(models.Model):
    plan = models.ForeignKey(SunsetPlan, on_delete=models.CASCADE, related_name="redirects")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=8, choices=RedirectKind.choices)
    label = models.CharField(max_length=120)
    value = models.CharField(max_length=500)
    expected_share = models.FloatField(default=0.0, help_text=_("Share of redirected customers expected here"))
    # "" follows the landing page's reference parameter (LandingPage.reference_param).
    reference_mode = models.CharField(max_length=10, choices=ReferenceMode.choices, blank=True, default="")
    # The query parameter or form field name for the query and form modes.
    reference_name = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "position"], name="redirect_position_unique"),
            models.CheckConstraint(
                condition=Q(reference_mode__in=ReferenceMode.values), name="redirect_reference_mode"
            ),
            models.CheckConstraint(
                condition=Q(reference_name="") | Q(reference_name__regex=REFERENCE_NAME),
                name="redirect_reference_name_safe",
            ),
            # A named mode has its name; the default and "none" have none.
            models.CheckConstraint(
                condition=Q(reference_mode__in=["", "none"], reference_name="")
                | (Q(reference_mode__in=["query", "form_get", "form_post"]) & ~Q(reference_name="")),
                name="redirect_reference_named",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.value}"


class AutoReply(models.Model):
    plan = models.ForeignKey(SunsetPlan, on_delete=models.CASCADE, related_name="auto_replies")
    phase_kind = models.CharField(max_length=16, choices=PhaseKind.choices)
    locale = models.CharField(max_length=10)
    text = models.TextField()

    class Meta:
        ordering = ["phase_kind", "locale"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "phase_kind", "locale"], name="auto_reply_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.phase_kind}/{self.locale}"


class ReassignmentState(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    CONFIRMED = "confirmed", _("Confirmed")
    NOTIFIED = "notified", _("Notified")
    DONE = "done", _("Done")


class Reassignment(models.Model):
    plan = models.ForeignKey(SunsetPlan, on_delete=models.CASCADE, related_name="reassignments")
    agent = models.ForeignKey("Agent", on_delete=models.PROTECT, related_name="reassignments")
    from_team = models.ForeignKey("Team", on_delete=models.PROTECT, related_name="+")
    to_team = models.ForeignKey("Team", on_delete=models.PROTECT, related_name="incoming_reassignments")
    role = models.CharField(max_length=80, blank=True)
    effective_date = models.DateField()
    state = models.CharField(max_length=16, choices=ReassignmentState.choices, default=ReassignmentState.PROPOSED)
    applied_by_run = models.ForeignKey(
        "CutoverRun", null=True, blank=True, on_delete=models.PROTECT, related_name="applied_reassignments"
    )

    class Meta:
        ordering = ["agent__name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "agent", "from_team"], name="reassignment_once_per_plan"),
            # One destination per agent per plan: the HR board and the guard rely on it.
            models.UniqueConstraint(fields=["plan", "agent"], name="reassignment_one_per_agent"),
            models.CheckConstraint(condition=~Q(from_team=models.F("to_team")), name="reassignment_changes_team"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}: {self.from_team_id} -> {self.to_team_id}"
