"""Small template helpers for the portal."""

import json
from datetime import UTC, datetime

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils import timezone
from django.utils.html import format_html

from ..models import ChannelKind, ChannelState, PhaseKind, PhaseState, PlanState, RunState

register = template.Library()


@register.simple_tag
def optional_url(name: str, *args) -> str:
    """The URL of a page another part of Dusk provides, or "" while it does not
    exist yet, so links appear once that part is installed."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


_MARK = 987654321
_ROW_URLS: dict[tuple[str, str], str] = {}


@register.simple_tag
def row_url(name: str, pk) -> str:
    """reverse(name, args=[pk]) for the rows of long lists. reverse() costs tens
    of microseconds (most of a row's rendering); the pattern is reversed once
    per name with a marker id, then the row's id is put in its place."""
    key = (name, get_script_prefix())
    pattern = _ROW_URLS.get(key)
    if pattern is None:
        pattern = _ROW_URLS[key] = reverse(name, args=[_MARK])
    pk = str(pk)
    return pattern.replace(str(_MARK), pk, 1) if pk.isdigit() else ""


@register.simple_tag
def instant(value: datetime | None, utc: bool = True):
    """An instant in the viewer's time zone, with UTC beside it. Written
    year-month-day (the same in every language, and cheap on long lists)."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    text = f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
    if not utc or local.utcoffset().total_seconds() == 0:
        return format_html('<time datetime="{}">{}</time>', value.isoformat(), text)
    in_utc = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}">{}</time> <span class="utc">({} UTC)</span>',
        value.isoformat(),
        text,
        in_utc.strftime("%Y-%m-%d %H:%M"),
    )


@register.filter
def pretty_json(value) -> str:
    if value in (None, "", {}):
        return ""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder)


@register.filter
def get_item(mapping, key):
    if not mapping:
        return None
    return mapping.get(key)


def _labels(choices) -> dict:
    return dict(choices.choices)


# value -> translated label, looked up in a dict: Model.get_FOO_display rebuilds
# (and hashes) the whole choices list on every call, which shows on long lists.
_LABELS = {
    "plan_state": _labels(PlanState),
    "phase_kind": _labels(PhaseKind),
    "phase_state": _labels(PhaseState),
    "run_state": _labels(RunState),
    "channel_state": _labels(ChannelState),
    "channel_kind": _labels(ChannelKind),
}


def _make_label_filter(name: str):
    labels = _LABELS[name]

    def label(value):
        return labels.get(value, value)

    label.__name__ = name
    return label


for _name in _LABELS:
    register.filter(_name, _make_label_filter(_name))
