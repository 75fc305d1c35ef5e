"""Where the customers went: the landing page at the tracked link, who landed, what they chose,
and the contact requests written there."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

HEX_COLOUR = r"^#[0-9a-fA-F]{6}$"


class LandingPage(models.Model):
    """A plan's branding on its landing page. Everything here is shown to anonymous customers, so
    nothing names a server-side resource: the logo is uploaded and served from this row."""

    plan = models.OneToOneField("SunsetPlan", on_delete=models.CASCADE, related_name="landing")
    display_name = models.CharField(max_length=80, blank=True)
    accent = models.CharField(max_length=7, default="#3b5bdb")
    logo = models.BinaryField(blank=True, default=b"")
    logo_type = models.CharField(max_length=20, blank=True)
    # Name of the query parameter that carries the reference to web and app targets ("" = none).
    reference_param = models.CharField(max_length=32, default="ref", blank=True)
    # Opening hours of the phone targets, in their own time zone (both empty = not shown).
    phone_opens = models.TimeField(null=True, blank=True)
    phone_closes = models.TimeField(null=True, blank=True)
    phone_zone = models.CharField(max_length=64, blank=True)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(accent__regex=HEX_COLOUR), name="landing_accent_hex"),
            models.CheckConstraint(
                condition=Q(phone_opens__isnull=True, phone_closes__isnull=True)
                | Q(phone_opens__isnull=False, phone_closes__isnull=False),
                name="landing_phone_hours_paired",
            ),
        ]

    def __str__(self) -> str:
        return f"landing of plan {self.plan_id}"


class VisitKind(models.TextChoices):
    HUMAN = "human", _("Human")
    CRAWLER = "crawler", _("Link preview or crawler")
    HEAD = "head", _("HEAD request")
    REPEAT = "repeat", _("Repeat within a day")


class LandingVisit(models.Model):
    """One request for the landing page. Only `human` rows count as a customer who landed; the
    others are kept apart so the numbers can be checked."""

    conversation = models.ForeignKey("Conversation", on_delete=models.CASCADE, related_name="landings")
    kind = models.CharField(max_length=8, choices=VisitKind.choices)
    # A keyed hash of the client's address and user agent: enough to tell a repeat, not who it was.
    visitor = models.CharField(max_length=64)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["conversation", "visitor", "at"], name="landing_visitor_at"),
            models.Index(fields=["at"], condition=Q(kind="human"), name="landing_human_at"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=VisitKind.values), name="landing_visit_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} landing {self.conversation_id}"


class HandoffState(models.TextChoices):
    RECEIVED = "received", _("Received")


class HandoffRequest(models.Model):
    """A customer wrote to us from the landing page: their message and the moved conversation."""

    conversation = models.ForeignKey("Conversation", on_delete=models.PROTECT, related_name="handoff_requests")
    name = models.CharField(max_length=120)
    email = models.EmailField(max_length=254)
    message = models.TextField()
    transcript = models.TextField(blank=True)
    state = models.CharField(max_length=12, choices=HandoffState.choices, default=HandoffState.RECEIVED)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="handoff_conversation_at"),
            models.Index(fields=["email", "created_at"], name="handoff_email_at"),
        ]

    def __str__(self) -> str:
        return f"hand-off {self.pk} for {self.conversation_id}"
