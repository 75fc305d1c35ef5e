"""What customers type on the landing page, and a plan's hand-off destinations; the services act."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from channels_app.models import DestinationKind

MESSAGE_MAX = 5000


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
