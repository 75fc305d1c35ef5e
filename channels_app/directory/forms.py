"""The channel list's filters."""

from django import forms
from django.utils.translation import gettext_lazy as _

from channels_app.models import ChannelKind, ChannelState


class ChannelFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("All kinds")), *ChannelKind.choices])
    state = forms.ChoiceField(label=_("State"), required=False, choices=[("", _("All states")), *ChannelState.choices])
