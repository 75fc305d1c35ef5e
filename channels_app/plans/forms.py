"""The sunset wizard's forms and the approval forms; the services apply the same rules again."""

import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from channels_app.core import textrules
from channels_app.core.zones import LOCALE_CHOICES, ZoneField, check_zone, local_to_instant
from channels_app.models import PHASE_ORDER, Channel, ChannelState, PhaseKind, RedirectKind, ReferenceMode
from channels_app.plans.services.drafts import WIZARD_STEPS
from channels_app.plans.services.plans import (
    AutoReplyInput,
    PublicNoticeInput,
    RedirectInput,
    auto_reply_problems,
    public_notice_field_problems,
    redirect_problems,
    reference_problems,
)


class ChannelChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Channel) -> str:
        return f"{obj.name} · {obj.get_kind_display()} · {obj.get_state_display()}"


class PlanBasicsForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    channels = ChannelChoiceField(
        label=_("Channels to retire"),
        queryset=Channel.objects.exclude(state=ChannelState.RETIRED).order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one channel to retire.")},
    )
    default_locale = forms.ChoiceField(
        label=_("Default reply language"),
        choices=LOCALE_CHOICES,
        help_text=_("Used when a customer's language is unknown."),
    )

    def __init__(self, *args, busy: dict[int, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.busy = busy or {}

    def clean_channels(self):
        channels = self.cleaned_data["channels"]
        taken = [f"{c.name} (“{self.busy[c.pk]}”)" for c in channels if c.pk in self.busy]
        if taken:
            raise ValidationError(
                _("Already in another open plan: %(list)s."), params={"list": ", ".join(taken)}, code="busy"
            )
        return channels

    def draft_data(self) -> dict:
        data = self.cleaned_data
        return {
            "title": data["title"].strip(),
            "channel_ids": [c.pk for c in data["channels"]],
            "default_locale": data["default_locale"],
        }


# --- step 2: phases -------------------------------------------------------------------------


def describe_instant(local_date, local_time, zone: str) -> dict:
    """What the live preview shows for a phase row: the instant, or why there is none."""
    if not (local_date and local_time and zone):
        return {}
    try:
        at = local_to_instant(local_date, local_time, zone)
    except ValidationError as exc:
        return {"problem": exc.messages[0]}
    info = {"instant": at}
    if at < timezone.now():
        info["problem"] = _("This moment is in the past.")
    return info


class PhaseForm(forms.Form):
    kind = forms.ChoiceField(label=_("Phase"), choices=PhaseKind.choices)
    local_date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    local_time = forms.TimeField(label=_("Time"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    time_zone = ZoneField(label=_("Time zone"))
    region = forms.CharField(
        label=_("Region"), required=False, max_length=64, help_text=_("Optional: one instant per region")
    )

    def clean(self):
        data = super().clean()
        self.instant = None
        if all(data.get(k) for k in ("local_date", "local_time", "time_zone")):
            try:
                self.instant = local_to_instant(data["local_date"], data["local_time"], data["time_zone"])
            except ValidationError as exc:
                self.add_error("local_time", exc.messages[0])
                return data
            if self.instant <= timezone.now():
                self.add_error("local_date", _("This moment is in the past."))
        return data

    def row(self) -> dict:
        d = self.cleaned_data
        return {
            "kind": d["kind"],
            "local_date": d["local_date"].isoformat(),
            "local_time": d["local_time"].strftime("%H:%M:%S" if d["local_time"].second else "%H:%M"),
            "time_zone": d["time_zone"],
            "region": d.get("region", "").strip(),
        }


class BasePhaseFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        _refuse_blank_rows(
            self,
            ngettext_lazy(
                "Phase row %(rows)s is empty: give it a date and a time or remove the row.",
                "Phase rows %(rows)s are empty: give them a date and a time or remove them.",
                "count",
            ),
        )
        forms_ = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if not forms_:
            raise ValidationError(_("A plan needs at least one phase."))
        seen: dict[tuple, PhaseForm] = {}
        for form in forms_:
            key = (form.cleaned_data["kind"], form.cleaned_data["region"].strip())
            if key in seen:
                form.add_error("kind", _("This phase appears twice for the same region."))
            seen[key] = form
        by_region: dict[str, list[PhaseForm]] = {}
        for form in forms_:
            by_region.setdefault(form.cleaned_data["region"].strip(), []).append(form)
        for items in by_region.values():
            items.sort(key=lambda f: PHASE_ORDER.index(f.cleaned_data["kind"]))
            for earlier, later in zip(items, items[1:], strict=False):
                if earlier.instant and later.instant and later.instant <= earlier.instant:
                    later.add_error(
                        "local_date",
                        _("%(later)s must come after %(earlier)s.")
                        % {
                            "later": PhaseKind(later.cleaned_data["kind"]).label,
                            "earlier": PhaseKind(earlier.cleaned_data["kind"]).label,
                        },
                    )

    def rows(self) -> list[dict]:
        return [f.row() for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]


PhaseFormSet = forms.formset_factory(PhaseForm, formset=BasePhaseFormSet, extra=0, can_delete=True, max_num=40)


# --- step 3: redirects -------------------------------------------------------------------------


class RedirectForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=RedirectKind.choices)
    label = forms.CharField(label=_("Label"), max_length=120)
    value = forms.CharField(label=_("Number or address"), max_length=500)
    expected_share = forms.IntegerField(
        label=_("Expected share (%)"), min_value=0, max_value=100, required=False, initial=0
    )
    reference_mode = forms.ChoiceField(
        label=_("Reference passed as"), choices=ReferenceMode.choices, required=False, initial=""
    )
    reference_name = forms.CharField(
        label=_("Parameter or field name"),
        max_length=32,
        required=False,
        help_text=_("For a query parameter or a form field, such as ref."),
    )

    def clean(self):
        data = super().clean()
        if data.get("kind") and data.get("value"):
            target = self.target(data)
            about_reference = reference_problems(target)
            for problem in redirect_problems(target):
                if problem in about_reference:
                    self.add_error("reference_name", problem)
                elif "label" not in problem:
                    self.add_error("value", problem)
        return data

    @staticmethod
    def target(d: dict) -> RedirectInput:
        return RedirectInput(
            d["kind"],
            d.get("label", ""),
            d["value"],
            (d.get("expected_share") or 0) / 100,
            d.get("reference_mode") or "",
            (d.get("reference_name") or "").strip(),
        )

    def row(self) -> dict:
        d = self.cleaned_data
        return {
            "kind": d["kind"],
            "label": d["label"].strip(),
            "value": d["value"].strip(),
            "expected_share": (d.get("expected_share") or 0) / 100,
        } | self.target(d).reference()


class BaseRedirectFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        _refuse_blank_rows(
            self,
            ngettext_lazy(
                "Redirect row %(rows)s is empty: fill it in or remove the row.",
                "Redirect rows %(rows)s are empty: fill them in or remove them.",
                "count",
            ),
        )
        total = sum(
            (f.cleaned_data.get("expected_share") or 0)
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        )
        if total and total != 100:  # the service's rule (plans._validate_redirect_shares), said on the form
            raise ValidationError(
                _("Expected shares add up to %(total)s%%; when given, they must total 100%%."), params={"total": total}
            )

    def rows(self) -> list[dict]:
        return [f.row() for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]


RedirectFormSet = forms.formset_factory(RedirectForm, formset=BaseRedirectFormSet, extra=0, can_delete=True, max_num=20)


# --- step 4: auto-replies ------------------------------------------------------------------------


class AutoReplyForm(forms.Form):
    phase_kind = forms.ChoiceField(label=_("Phase"), choices=PhaseKind.choices)
    locale = forms.ChoiceField(label=_("Language"), choices=LOCALE_CHOICES)
    text = forms.CharField(
        label=_("Reply text"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=5000,
        help_text=_("Placeholders: %(list)s") % {"list": ", ".join("{" + p + "}" for p in textrules.PLACEHOLDERS)},
    )

    def __init__(self, *args, channel_kinds=(), phase_kinds=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.channel_kinds = list(channel_kinds)
        self.phase_kinds = set(phase_kinds)

    def clean(self):
        data = super().clean()
        if data.get("phase_kind") and data.get("locale") and data.get("text"):
            reply = AutoReplyInput(data["phase_kind"], data["locale"], data["text"])
            for problem in auto_reply_problems(reply, channel_kinds=self.channel_kinds, phase_kinds=self.phase_kinds):
                field = "phase_kind" if "has no" in problem else "text"
                self.add_error(field, problem)
        return data

    def row(self) -> dict:
        d = self.cleaned_data
        return {"phase_kind": d["phase_kind"], "locale": d["locale"], "text": d["text"]}


def _refuse_blank_rows(formset: forms.BaseFormSet, message) -> None:
    """A row left blank is refused, not dropped: Django skips an unchanged extra row, so a reply
    or redirect someone meant to write would vanish without a word. `message`: singular and
    plural, chosen by "count" (ngettext_lazy)."""
    blank = [i + 1 for i, form in enumerate(formset.forms) if not form.cleaned_data]  # a removed row has DELETE
    if blank:
        raise ValidationError(message, params={"rows": ", ".join(map(str, blank)), "count": len(blank)})


class BaseAutoReplyFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        _refuse_blank_rows(
            self,
            ngettext_lazy(
                "Reply row %(rows)s is empty: write the reply or remove the row.",
                "Reply rows %(rows)s are empty: write the replies or remove them.",
                "count",
            ),
        )
        seen = set()
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            key = (form.cleaned_data["phase_kind"], form.cleaned_data["locale"])
            if key in seen:
                form.add_error("locale", _("This phase already has a reply in this language."))
            seen.add(key)

    def rows(self) -> list[dict]:
        return [f.row() for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]


AutoReplyFormSet = forms.formset_factory(
    AutoReplyForm, formset=BaseAutoReplyFormSet, extra=0, can_delete=True, max_num=60
)


# --- step 4, below the replies: the public notice -------------------------------------------------


class PublicNoticeForm(forms.Form):
    """One language of the announcement on the channels themselves."""

    locale = forms.ChoiceField(label=_("Language"), choices=LOCALE_CHOICES)
    text = forms.CharField(
        label=_("Announcement (notice phase)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        required=False,
        help_text=_("The X post, the Messenger greeting, the YouTube channel description."),
    )
    moved_text = forms.CharField(
        label=_("“Has moved” version (hard close)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        required=False,
        help_text=_("Replaces the announcement everywhere, the forum topic's text too."),
    )
    title = forms.CharField(label=_("Forum topic title"), max_length=255, required=False)
    body = forms.CharField(
        label=_("Forum topic body"), widget=forms.Textarea(attrs={"rows": 4}), max_length=32000, required=False
    )

    def __init__(self, *args, channel_kinds=(), phase_kinds=(), default_locale="en", **kwargs):
        super().__init__(*args, **kwargs)
        self.channel_kinds = list(channel_kinds)
        self.phase_kinds = set(phase_kinds)
        self.default_locale = default_locale

    def clean(self):
        data = super().clean()
        if data.get("locale") and any(data.get(f) for f in textrules.PUBLIC_FIELDS):
            notice = PublicNoticeInput(
                data["locale"],
                data.get("text", ""),
                data.get("moved_text", ""),
                data.get("title", ""),
                data.get("body", ""),
            )
            found = public_notice_field_problems(
                notice,
                channel_kinds=self.channel_kinds,
                phase_kinds=self.phase_kinds,
                default_locale=self.default_locale,
            )
            for field, problems in found.items():
                for problem in problems:
                    self.add_error(field, problem)
        return data

    def row(self) -> dict:
        d = self.cleaned_data
        return {f: d.get(f, "") for f in ("locale", *textrules.PUBLIC_FIELDS)}


class BasePublicNoticeFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        seen = set()
        for form in self.forms:
            data = form.cleaned_data
            if not data or data.get("DELETE") or not any(data.get(f) for f in textrules.PUBLIC_FIELDS):
                continue
            if data["locale"] in seen:
                form.add_error("locale", _("The public notice already has this language."))
            seen.add(data["locale"])

    def rows(self) -> list[dict]:
        return [
            f.row()
            for f in self.forms
            if f.cleaned_data
            and not f.cleaned_data.get("DELETE")
            and any(f.cleaned_data.get(x) for x in textrules.PUBLIC_FIELDS)
        ]


PublicNoticeFormSet = forms.formset_factory(
    PublicNoticeForm, formset=BasePublicNoticeFormSet, extra=0, can_delete=True, max_num=20
)


# --- review, approvals, settings, filters ---------------------------------------------------------


class ApproveForm(forms.Form):
    comment = forms.CharField(label=_("Comment (optional)"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class SendBackForm(forms.Form):
    comment = forms.CharField(
        label=_("What must change"),
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Say what must change before the plan can be approved.")},
    )


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)


STEP_LABELS = {
    "channels": _("Channels"),
    "phases": _("Phases"),
    "redirects": _("Redirects"),
    "replies": _("Auto-replies"),
}
assert tuple(STEP_LABELS) == WIZARD_STEPS


# --- the landing page (a section of the redirect step, and the plan's landing page) ---------------

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


class LandingPageForm(forms.Form):
    """A plan's landing page: branding, the default reference parameter, phone hours, the logo."""

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
