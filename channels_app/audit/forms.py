"""The audit log's filters."""

from datetime import UTC, datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditFilterForm(forms.Form):
    object = forms.CharField(
        label=_("Object"),
        required=False,
        max_length=80,
        help_text=_("A type, or type:id, e.g. sunsetplan:12"),
    )
    actor = forms.CharField(label=_("Actor"), required=False, max_length=150)
    action = forms.CharField(label=_("Action"), required=False, max_length=64)
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean_object(self):
        value = self.cleaned_data["object"].strip().lower()
        if ":" in value:
            kind, _sep, pk = value.partition(":")
            if not kind or not pk.strip():
                raise ValidationError(_("Write a type, or type:id, e.g. sunsetplan:12."))
        return value

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            self.add_error("until", _("“Until” is before “From”."))
        return data

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """The date range in the viewer's time zone, as instants."""
        tz = timezone.get_current_timezone()
        since = self.cleaned_data.get("since")
        until = self.cleaned_data.get("until")
        lo = datetime.combine(since, datetime.min.time(), tzinfo=tz).astimezone(UTC) if since else None
        hi = datetime.combine(until, datetime.max.time(), tzinfo=tz).astimezone(UTC) if until else None
        return lo, hi
