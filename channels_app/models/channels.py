"""Channels: the places customers reach support."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from channels_app.core import hosts
from channels_app.core import mailbox as mailbox_url
from channels_app.core.secrets import CHANNEL_SECRET_PREFIX, is_channel_secret_name

# http(s) for the platforms' APIs; imap(s) for an email channel's mailbox (core/mailbox.py).
API_URL_SCHEMES = ["http", "https", *mailbox_url.SCHEMES]


class PlatformURLFormField(forms.URLField):
    default_validators = [URLValidator(schemes=API_URL_SCHEMES)]


class PlatformURLField(models.URLField):
    """A URL field that also takes imap:// and imaps:// (Django's URLField refuses them)."""

    default_validators = [URLValidator(schemes=API_URL_SCHEMES)]

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": PlatformURLFormField, **kwargs})


def validate_secret_name(value: str) -> None:
    """A channel secret variable is named under DUSK_CHANNEL_ (core/secrets.py), nothing else."""
    if value and not is_channel_secret_name(value):
        raise ValidationError(
            gettext(
                "Name an environment variable that starts with %(prefix)s, in capitals, digits and "
                "underscores (e.g. %(prefix)sX_TOKEN)."
            )
            % {"prefix": CHANNEL_SECRET_PREFIX},
            code="secret_name",
        )


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
    # The platform's API (http/https), or an email channel's IMAP mailbox (imaps://host/INBOX),
    # read with the password named by api_token_env.
    api_base_url = PlatformURLField(blank=True)
    webhook_secret_env = models.CharField(max_length=64, blank=True, validators=[validate_secret_name])
    api_token_env = models.CharField(max_length=64, blank=True, validators=[validate_secret_name])
    rate_limit_per_minute = models.PositiveIntegerField(default=60)
    # Where the public notice goes on the platform, when it needs saying (Discourse:
    # {"announcement_category": 12, "read_only_categories": [12, 13]}).
    notice_settings = models.JSONField(default=dict, blank=True)
    # YouTube has no webhooks for comments, so its poller keeps its place here: the newest
    # publishedAt read so far and the ids published in exactly that second (publishedAt has
    # one-second precision), so the next poll neither reads a comment twice nor skips one.
    poll_high_water = models.DateTimeField(null=True, blank=True)
    poll_boundary_ids = models.JSONField(default=list, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True)
    poll_error = models.TextField(blank=True)
    # An email channel's IMAP poller keeps its place by UID: the mailbox's UIDVALIDITY and the
    # highest UID read in it (UIDs only mean something within one UIDVALIDITY).
    poll_uid_validity = models.BigIntegerField(null=True, blank=True)
    poll_last_uid = models.BigIntegerField(null=True, blank=True)
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

    def clean(self) -> None:
        self._clean_url_kind()
        url = self.api_base_url or ""
        if url:
            # The host is checked again at every connection (core/hosts.py).
            try:
                hosts.check_url(url, allow_private=settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS)
            except hosts.HostRefused as exc:
                raise ValidationError({"api_base_url": gettext(exc.template) % exc.params}) from None

    def _clean_url_kind(self) -> None:
        url = self.api_base_url or ""
        is_imap = mailbox_url.is_mailbox_url(url)
        if self.kind != ChannelKind.EMAIL:
            if is_imap:
                raise ValidationError(
                    {"api_base_url": gettext("Only an email channel's URL can be an imap(s):// mailbox.")}
                )
            return
        if not url:
            return  # inbound-parse webhook only
        if not is_imap:
            raise ValidationError(
                {"api_base_url": gettext("An email channel's URL is its IMAP mailbox: imaps://host/INBOX, or empty.")}
            )
        try:
            mailbox = mailbox_url.parse_mailbox_url(url)
        except mailbox_url.MailboxURLError as exc:
            # imap.py stays Django-free: it marks its messages, they are translated here.
            raise ValidationError({"api_base_url": gettext(exc.template) % exc.params}) from None
        errors = {}
        if not self.api_token_env:
            errors["api_token_env"] = gettext("Name the environment variable that holds the mailbox password.")
        if not mailbox.username and "@" not in self.handle:
            errors["api_base_url"] = gettext(
                "Put the login in the URL (imaps://login@host/INBOX) or set the channel's address as its handle."
            )
        if errors:
            raise ValidationError(errors)
