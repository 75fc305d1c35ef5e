"""Time zones and language codes: which names are accepted, and wall-clock times to instants.

One place for the IANA zone list and its refusal sentence, used by the wizard, the directory,
people's profiles and every form field that takes a zone.
"""

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django import forms
from django.core.exceptions import ValidationError
from django.utils import dateformat, translation
from django.utils.translation import gettext

# A language code as plans and agents carry it: "en", "fr", "pt-BR", "zh-Hant".
LOCALE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")

# The languages a plan is written in (the wizard's language menus; the API's public notice takes
# these and the plan's default locale), each named in itself.
LOCALE_CHOICES = [
    ("en", "English (en)"),
    ("fr", "Français (fr)"),
    ("id", "Bahasa Indonesia (id)"),
    ("es", "Español (es)"),
    ("de", "Deutsch (de)"),
    ("pt-BR", "Português do Brasil (pt-BR)"),
    ("nl", "Nederlands (nl)"),
    ("it", "Italiano (it)"),
    ("ja", "日本語 (ja)"),
]

_ZONES: frozenset[str] | None = None


def date_in_language(day: date, locale: str) -> str:
    """A date as a reply written in `locale` says it: day, month name, year ("1 October 2027",
    "1 octobre 2027", "1 Oktober 2027"), with the month names of Django's catalogs; a language
    Django has no catalog for gets the English names."""
    with translation.override(locale or "en"):
        return dateformat.format(day, "j F Y")


# Files of the zone database that are not zones: the host's own zone (it means whatever the
# server is set to), "Factory" (no zone at all), POSIX rules and the leap-second variants.
_NOT_ZONES = {"localtime", "Factory", "posixrules", "leapseconds", "leap-seconds.list", "tzdata.zi"}
_NOT_ZONE_PREFIXES = ("posix/", "right/", "SystemV/")


def zone_names() -> frozenset[str]:
    """The IANA zone names accepted everywhere: those of the zone database, without the
    entries that are not places."""
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(
            name for name in available_timezones() if name not in _NOT_ZONES and not name.startswith(_NOT_ZONE_PREFIXES)
        )
    return _ZONES


def zone_choices() -> list[str]:
    return sorted(zone_names())


def unknown_zone_message(name: str) -> str:
    return gettext("Unknown time zone “%(zone)s”: use an IANA name such as Europe/Paris.") % {"zone": name}


def check_zone(name: str) -> str:
    """The zone, stripped, or ValidationError with the one sentence every door shows."""
    name = (name or "").strip()
    if name not in zone_names():
        raise ValidationError(unknown_zone_message(name))
    return name


def local_to_instant(local_date: date, local_time: time, tz_name: str) -> datetime:
    """Turn a wall-clock time in an IANA zone into a UTC instant, refusing
    wall-clock times that do not exist or exist twice (DST)."""
    try:
        if tz_name not in zone_names():
            raise ZoneInfoNotFoundError(tz_name)
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(unknown_zone_message(tz_name)) from None
    naive = datetime.combine(local_date, local_time.replace(tzinfo=None))
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        # fold=0 and fold=1 differ: the time is in a gap or an overlap.
        round_trip = first.astimezone(ZoneInfo("UTC")).astimezone(tz).replace(tzinfo=None)
        if round_trip != naive:
            raise ValidationError(
                gettext("%(local)s does not exist in %(zone)s (clocks skip it for daylight saving time).")
                % {"local": f"{naive:%Y-%m-%d %H:%M}", "zone": tz_name}
            )
        raise ValidationError(
            gettext("%(local)s happens twice in %(zone)s (clocks go back): choose a time outside that hour.")
            % {"local": f"{naive:%Y-%m-%d %H:%M}", "zone": tz_name}
        )
    return first.astimezone(ZoneInfo("UTC"))


class ZoneField(forms.CharField):
    """An IANA zone typed with suggestions from a shared <datalist id="zones">."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)
        self.widget.attrs.update({"list": "zones", "autocomplete": "off", "spellcheck": "false"})

    def clean(self, value):
        return check_zone(super().clean(value))
