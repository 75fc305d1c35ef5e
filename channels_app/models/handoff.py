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

    # No index of its own: landing_visitor_at (conversation, visitor, at) leads with it, and every
    # request for the landing page writes a row (one index entry fewer to write).
    conversation = models.ForeignKey("Conversation", on_delete=models.CASCADE, related_name="landings", db_index=False)
    kind = models.CharField(max_length=8, choices=VisitKind.choices)
    # A keyed hash of the client's address and user agent: enough to tell a repeat, not who it was.
    visitor = models.CharField(max_length=64)
    at = models.DateTimeField()
    # The line's key when the visit came through a web process's journal (handoff/services/
    # journal.py): unique, so a journal file stored twice adds nothing.
    journal_key = models.CharField(max_length=40, blank=True, db_default="")

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["conversation", "visitor", "at"], name="landing_visitor_at"),
            models.Index(fields=["at"], condition=Q(kind="human"), name="landing_human_at"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=VisitKind.values), name="landing_visit_kind_valid"),
            models.UniqueConstraint(
                fields=["journal_key"], condition=Q(journal_key__gt=""), name="landing_visit_journal_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} landing {self.conversation_id}"


class HandoffState(models.TextChoices):
    RECEIVED = "received", _("Received")


class HandoffRequest(models.Model):
    """A customer wrote to us from the landing page: their message and the moved conversation."""

    conversation = models.ForeignKey("Conversation", on_delete=models.PROTECT, related_name="handoff_requests")
    # The plan whose landing page it was written on (whose destinations it is handed off to).
    plan = models.ForeignKey("SunsetPlan", on_delete=models.PROTECT, related_name="handoff_requests")
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


class DestinationKind(models.TextChoices):
    ZENDESK = "zendesk", "Zendesk"
    FRESHDESK = "freshdesk", "Freshdesk"
    CHATWOOT = "chatwoot", "Chatwoot"
    WEBHOOK = "webhook", _("Signed JSON webhook")


class HandoffDestination(models.Model):
    """Where the contact requests of a plan's landing page are handed off: the system behind one
    of its redirect targets (by position, which survives a draft's edit). The credential is the
    name of an environment variable (DUSK_CHANNEL_...), never the secret itself."""

    plan = models.ForeignKey("SunsetPlan", on_delete=models.CASCADE, related_name="handoff_destinations")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=DestinationKind.choices)
    # Zendesk: the account's base URL (https://<subdomain>.zendesk.com); Freshdesk: likewise
    # (https://<domain>.freshdesk.com); Chatwoot: the inbox's API URL
    # (https://<host>/api/v1/accounts/<account>/inboxes/<inbox>); webhook: the receiver's URL.
    url = models.CharField(max_length=500)
    # Zendesk: "<agent email>/token:<API token>"; Freshdesk: the API key; Chatwoot: a user access
    # token; webhook: the HMAC secret.
    credential_env = models.CharField(max_length=64)
    # The secret the destination signs its arrival reports with (DUSK_CHANNEL_...; "" = none taken).
    arrival_secret_env = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["plan", "position"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "position"], name="handoff_destination_per_target"),
            models.CheckConstraint(condition=Q(kind__in=DestinationKind.values), name="handoff_destination_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for target {self.position} of plan {self.plan_id}"


class HandoffDeliveryState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class HandoffDelivery(models.Model):
    """One contact request on its way to one destination, sent by the workers (outbox style)."""

    request = models.ForeignKey(HandoffRequest, on_delete=models.CASCADE, related_name="deliveries")
    destination = models.ForeignKey(HandoffDestination, on_delete=models.PROTECT, related_name="deliveries")
    state = models.CharField(max_length=8, choices=HandoffDeliveryState.choices, default=HandoffDeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # An attempt whose answer never came: the destination may have it, so the next attempt looks
    # it up before sending again.
    in_doubt = models.BooleanField(default=False)
    remote_id = models.CharField(max_length=64, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "destination"], name="handoff_delivery_once"),
            models.CheckConstraint(condition=Q(state__in=HandoffDeliveryState.values), name="handoff_delivery_state"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at", "id"], condition=Q(state="pending"), name="handoff_delivery_due"),
            models.Index(fields=["claimed_at"], condition=Q(state="sending"), name="handoff_delivery_sending"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.state})"


class ArrivalStatus(models.TextChoices):
    ARRIVED = "arrived", _("Arrived")
    SOLVED = "solved", _("Solved")


class HandoffArrival(models.Model):
    """A destination reported that the customer behind a reference arrived there, or that their
    request was solved. Once per destination, conversation and status: reports repeat."""

    destination = models.ForeignKey(HandoffDestination, on_delete=models.PROTECT, related_name="arrivals")
    conversation = models.ForeignKey("Conversation", on_delete=models.CASCADE, related_name="arrivals")
    status = models.CharField(max_length=8, choices=ArrivalStatus.choices)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at"]
        constraints = [
            models.UniqueConstraint(fields=["destination", "conversation", "status"], name="arrival_once"),
            models.CheckConstraint(condition=Q(status__in=ArrivalStatus.values), name="arrival_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.status} {self.conversation_id}"
