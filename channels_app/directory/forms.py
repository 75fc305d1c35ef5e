"""The channel list's filters and a forum channel's notice settings."""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from channels_app.directory.services import MAX_CATEGORY_ID, MAX_READ_ONLY_CATEGORIES
from channels_app.models import ChannelKind, ChannelState


class ChannelFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("All kinds")), *ChannelKind.choices])
    state = forms.ChoiceField(label=_("State"), required=False, choices=[("", _("All states")), *ChannelState.choices])


_CATEGORY_ID = re.compile(r"^[0-9]{1,10}$")  # ASCII digits only: str.isdigit() also takes "¹"
_SEPARATORS = re.compile(r"[\s,]+")


def _category_id_problem(token: str) -> str | None:
    if _CATEGORY_ID.match(token) and 1 <= int(token) <= MAX_CATEGORY_ID:
        return None
    shown = token if len(token) <= 20 else token[:20] + "…"
    return _("“%(value)s” is not a category id: give whole numbers from 1 to %(max)s.") % {
        "value": shown,
        "max": MAX_CATEGORY_ID,
    }


class NoticeSettingsForm(forms.Form):
    """Where a Discourse channel's public notice goes (directory/services.clean_notice_settings
    checks the same again)."""

    announcement_category = forms.CharField(
        label=_("Announcement category id"),
        required=False,
        max_length=20,
        help_text=_("The forum category the announcement topic is created in (the number in its address)."),
    )
    read_only_categories = forms.CharField(
        label=_("Categories made read-only at the hard close"),
        required=False,
        max_length=1000,
        help_text=_("Category ids separated by commas or spaces; each is made read-only for everyone but staff."),
    )

    def clean_announcement_category(self) -> int | None:
        value = self.cleaned_data["announcement_category"].strip()
        if not value:
            return None
        problem = _category_id_problem(value)
        if problem:
            raise forms.ValidationError(problem, code="category_id")
        return int(value)

    def clean_read_only_categories(self) -> list[int]:
        value = self.cleaned_data["read_only_categories"].strip()
        tokens = [t for t in _SEPARATORS.split(value) if t]
        problems = [p for p in (_category_id_problem(t) for t in tokens) if p]
        if problems:
            raise forms.ValidationError(problems[:5])
        ids = list(dict.fromkeys(int(t) for t in tokens))
        if len(ids) > MAX_READ_ONLY_CATEGORIES:
            raise forms.ValidationError(
                _("Name at most %(max)s categories to make read-only.") % {"max": MAX_READ_ONLY_CATEGORIES},
                code="too_many",
            )
        return ids

    def settings(self) -> dict:
        """The notice settings as update_channel takes them."""
        return {
            "announcement_category": self.cleaned_data["announcement_category"],
            "read_only_categories": self.cleaned_data["read_only_categories"],
        }

    @staticmethod
    def initial_for(channel) -> dict:
        settings_ = channel.notice_settings if isinstance(channel.notice_settings, dict) else {}
        read_only = settings_.get("read_only_categories") or []
        return {
            "announcement_category": settings_.get("announcement_category") or "",
            "read_only_categories": ", ".join(str(v) for v in read_only) if isinstance(read_only, list) else "",
        }
