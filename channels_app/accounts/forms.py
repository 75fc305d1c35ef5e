"""Forms of a person's own settings: time zone, API tokens."""

from datetime import datetime, timedelta

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from channels_app.core.zones import ZoneField
from channels_app.models import TokenScope

LIFETIMES = [(30, _("30 days")), (90, _("90 days")), (180, _("180 days")), (365, _("1 year"))]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text=_("Where the token is used, e.g. “helpdesk sync”."))
    scopes = forms.MultipleChoiceField(
        choices=TokenScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[TokenScope.READ],
        help_text=_("Read: GET requests and previews. Write: everything your role allows."),
    )
    expires_in_days = forms.TypedChoiceField(choices=LIFETIMES, coerce=int, initial=90, label=_("Expires in"))

    def expires_at(self) -> datetime:
        return timezone.now() + timedelta(days=self.cleaned_data["expires_in_days"])


class ProfileForm(forms.Form):
    time_zone = ZoneField(label=_("Your time zone"), help_text=_("Times in the portal are shown in this zone."))
    language = forms.ChoiceField(
        label=_("Language of your emails"),
        help_text=_(
            "Emails about plans (submitted, sent back, approved, a run started) are written to you in this language."
        ),
        choices=[("", _("The portal's default (English)")), *settings.LANGUAGES],
        required=False,
    )
