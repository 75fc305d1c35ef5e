"""What customers type on the landing page, and a plan's branding; the services act."""

import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from channels_app.core.zones import check_zone
from channels_app.models import DestinationKind

MESSAGE_MAX = 5000
# Images a browser shows from their first bytes; SVG is refused (it can carry script).
IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def _image_type(head: bytes) -> str:
    for signature, content_type in IMAGE_SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return ""


class ContactForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=120)
    email = forms.EmailField(label=_("Your email"), max_length=254)
    message = forms.CharField(
        label=_("Your message"),
        max_length=MESSAGE_MAX,
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages={"max_length": _("Please keep your message under %(limit_value)d characters.")},
    )
    # A field people never see (hidden by the stylesheet, skipped by keyboards and screen readers):
    # only robots fill it.
    website = forms.CharField(required=False, label=_("Leave this empty"))

    def clean_website(self):
        if self.cleaned_data.get("website"):
            raise ValidationError(_("This message looks automated and was not sent."), code="honeypot")
        return ""

    def clean(self):
        cleaned = super().clean()
        for name in ("name", "message"):
            value = cleaned.get(name) or ""
            if "\x00" in value:
                self.add_error(name, _("This field contains a character that cannot be stored."))
        return cleaned


class LandingPageForm(forms.Form):
    display_name = forms.CharField(
        label=_("Display name"), max_length=80, required=False, help_text=_("Shown at the top of the landing page.")
    )
    accent = forms.CharField(
        label=_("Accent colour"),
        max_length=7,
        initial="#3b5bdb",
        help_text=_("A hex colour such as #3b5bdb."),
        widget=forms.TextInput(attrs={"type": "color"}),
    )
    reference_param = forms.CharField(
        label=_("Reference parameter"),
        max_length=32,
        required=False,
        help_text=_(
            "Web and app links carry the reference in this query parameter (such as ?ref=DSK-…). Empty: links are left as they are."
        ),
    )
    phone_opens = forms.TimeField(label=_("Phone opens"), required=False)
    phone_closes = forms.TimeField(label=_("Phone closes"), required=False)
    phone_zone = forms.CharField(
        label=_("Phone hours time zone"),
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"list": "zones", "autocomplete": "off", "spellcheck": "false"}),
    )
    logo = forms.FileField(label=_("Logo (PNG, JPEG or WebP)"), required=False)
    remove_logo = forms.BooleanField(label=_("Remove the logo"), required=False)

    def clean_accent(self):
        value = self.cleaned_data["accent"].strip()
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
            raise ValidationError(_("Enter a colour as # and six hex digits, such as #3b5bdb."), code="colour")
        return value.lower()

    def clean_reference_param(self):
        value = self.cleaned_data["reference_param"].strip()
        if value and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,31}", value):
            raise ValidationError(_("Use letters, digits, _ . or -, starting with a letter."), code="param")
        return value

    def clean_phone_zone(self):
        value = self.cleaned_data["phone_zone"].strip()
        return check_zone(value) if value else ""

    def clean_logo(self):
        upload = self.cleaned_data.get("logo")
        if upload is None:
            return None
        if upload.size > settings.DUSK_LANDING_LOGO_MAX_BYTES:
            raise ValidationError(
                _("The logo may be at most %(limit)d KB."),
                params={"limit": settings.DUSK_LANDING_LOGO_MAX_BYTES // 1000},
                code="size",
            )
        data = upload.read()
        content_type = _image_type(data[:16])
        if not content_type:
            raise ValidationError(_("The logo must be a PNG, JPEG or WebP image."), code="type")
        return (data, content_type)

    def clean(self):
        cleaned = super().clean()
        opens, closes, zone = cleaned.get("phone_opens"), cleaned.get("phone_closes"), cleaned.get("phone_zone")
        given = [v for v in (opens, closes, zone) if v]
        if given and len(given) < 3:
            raise ValidationError(_("Give the phone's opening time, closing time and time zone, or none of them."))
        return cleaned


class HandoffDestinationForm(forms.Form):
    position = forms.TypedChoiceField(label=_("Redirect target"), coerce=int, choices=())
    kind = forms.ChoiceField(label=_("Destination"), choices=DestinationKind.choices)
    url = forms.CharField(
        label=_("URL"),
        max_length=500,
        help_text=_(
            "Zendesk: https://<subdomain>.zendesk.com. Freshdesk: https://<domain>.freshdesk.com. Chatwoot: "
            "https://<host>/api/v1/accounts/<account id>/inboxes/<inbox id>. Webhook: the receiver's https URL."
        ),
    )
    credential_env = forms.CharField(
        label=_("Credential variable"),
        max_length=64,
        help_text=_(
            "The environment variable holding the credential (DUSK_CHANNEL_…). Zendesk: "
            "<agent email>/token:<API token>. Freshdesk: the API key. Chatwoot: a user access token. "
            "Webhook: the signing secret."
        ),
    )

    arrival_secret_env = forms.CharField(
        label=_("Arrival secret variable"),
        max_length=64,
        required=False,
        help_text=_(
            "Optional: the environment variable (DUSK_CHANNEL_…) holding the secret this system signs its "
            "arrival reports with. Empty: its reports are refused."
        ),
    )

    def __init__(self, *args, targets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["position"].choices = [(t.position, f"{t.position + 1}. {t.label}") for t in targets]
