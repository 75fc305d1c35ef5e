"""The public notice: what a plan announces on the channels themselves (a pinned forum topic, a
post on X, the Messenger greeting, the YouTube channel description), and each change the
cutover makes on a platform to publish it, with what it replaced, so rollback restores it."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from channels_app.models.plans import PhaseKind


class PublicNotice(models.Model):
    """A plan's public notice in one of its locales. `text` is the short announcement (the X
    post, the Messenger greeting, the YouTube description) published at the notice phase;
    `moved_text` its "has moved" version published at the hard close; `title` and `body` the
    Discourse announcement topic. Placeholders are the plan's ({redirect_url}, {phone},
    {date}...), never a customer's."""

    plan = models.ForeignKey("SunsetPlan", on_delete=models.CASCADE, related_name="public_notices")
    locale = models.CharField(max_length=10)
    text = models.TextField()
    moved_text = models.TextField(blank=True)
    title = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True)

    class Meta:
        ordering = ["locale"]
        constraints = [models.UniqueConstraint(fields=["plan", "locale"], name="public_notice_unique")]

    def __str__(self) -> str:
        return f"public notice {self.locale} of plan {self.plan_id}"


class PublicationState(models.TextChoices):
    PENDING = "pending", _("Pending")
    # An attempt started: it may have reached the platform, which is asked before any retry.
    PUBLISHING = "publishing", _("Publishing")
    PUBLISHED = "published", _("Published")
    FAILED = "failed", _("Failed")
    RESTORED = "restored", _("Restored")


class Publication(models.Model):
    """One change on one platform for one run: its own key (kept on the platform where it can
    be: a Discourse topic's external_id), what it publishes (`change`), what it replaced
    (`before`, captured before it is made; None until then) and the platform's answer."""

    run = models.ForeignKey("CutoverRun", on_delete=models.PROTECT, related_name="publications")
    channel = models.ForeignKey("Channel", on_delete=models.PROTECT, related_name="+")
    phase_kind = models.CharField(max_length=16, choices=PhaseKind.choices)
    action = models.CharField(max_length=32)
    target = models.CharField(max_length=64, blank=True)
    key = models.CharField(max_length=50, unique=True)
    position = models.PositiveSmallIntegerField()
    change = models.JSONField(default=dict, blank=True)
    before = models.JSONField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=PublicationState.choices, default=PublicationState.PENDING)
    platform_id = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # When the first attempt began: a look-up in doubt searches from there.
    attempted_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    status_code = models.PositiveSmallIntegerField(default=0)
    published_at = models.DateTimeField(null=True, blank=True)
    restored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "channel", "action", "target"], name="publication_once"),
            models.CheckConstraint(condition=Q(state__in=PublicationState.values), name="publication_state_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.action} on channel {self.channel_id} ({self.state})"
