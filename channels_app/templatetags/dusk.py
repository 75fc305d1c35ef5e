"""Small template helpers for the portal."""

import json
from datetime import UTC, datetime

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def optional_url(name: str, *args) -> str:
    """The URL of a page another part of Dusk provides, or "" while it does not
    exist yet, so links appear once that part is installed."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


@register.simple_tag
def instant(value: datetime | None, utc: bool = True):
    """An instant in the viewer's time zone, with UTC beside it."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    text = f"{date_format(local, 'DATETIME_FORMAT')} {local.tzname()}"
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
