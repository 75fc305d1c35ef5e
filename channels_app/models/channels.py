"""Channels: the places customers reach support."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ChannelKind(models.TextChoices):
    X = "x", "X"
    YOUTUBE = "youtube", "YouTube comments"
    DISCOURSE = "discourse", _("Community forum (Discourse)")
    MESSENGER = "messenger", "Messenger"
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")
    WEB_FORM = "web_form", _("Web form")
    CHAT = "chat", _("Chat")


class ChannelState(models.TextChoices):
    ACTIVE = "active", _("Active")
    NOTICE = "notice", _("Notice")
    SOFT_CLOSED = "soft_closed", _("Soft closed")
    RETIRED = "retired", _("Retired")


class Channel(models.Model):
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    name = models.CharField(max_length=120, unique=True)
    handle = models.CharField(max_length=255, blank=True, help_text=_("Handle or URL on the platform"))
    state = models.CharField(max_length=16, choices=ChannelState.choices, default=ChannelState.ACTIVE)
    archived_at = models.DateTimeField(null=True, blank=True)
    default_locale = models.CharField(max_length=10, default="en")
    # Platform credentials are names of environment variables, never the secrets
    # themselves, so the database and its backups hold no secret.
    platform_account_id = models.CharField(max_length=64, blank=True)
    api_base_url = models.URLField(blank=True)
    webhook_secret_env = models.CharField(max_length=64, blank=True)
    api_token_env = models.CharField(max_length=64, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(default=60)
    # YouTube has no webhooks for comments, so its poller keeps its place here: the newest
    # publishedAt read so far and the ids published in exactly that second (publishedAt has
    # one-second precision), so the next poll neither reads a comment twice nor skips one.
    poll_high_water = models.DateTimeField(null=True, blank=True)
    poll_boundary_ids = models.JSONField(default=list, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True)
    poll_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=ChannelKind.values), name="channel_kind_valid"),
            models.CheckConstraint(condition=models.Q(state__in=ChannelState.values), name="channel_state_valid"),
        ]

    def __str__(self) -> str:
        return self.name
