"""Small template helpers for the portal."""

import json
from datetime import UTC, datetime

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from channels_app.core.links import row_url
from channels_app.models import (
    ChannelKind,
    ChannelState,
    OutboxState,
    PhaseKind,
    PhaseState,
    PlanState,
    ReassignmentState,
    RunState,
    TokenScope,
)

register = template.Library()


@register.simple_tag
def optional_url(name: str, *args) -> str:
    """The URL of a page another part of Dusk provides, or "" while it does not
    exist yet, so links appear once that part is installed."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


register.simple_tag(row_url)


@register.simple_tag
def instant(value: datetime | str | None, utc: bool = True):
    """An instant in the viewer's time zone, with UTC beside it. Written
    year-month-day (the same in every language, and cheap on long lists)."""
    if value is None:
        return "—"
    if isinstance(value, str):  # an instant kept in JSON (a run's errors), written isoformat()
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
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


@register.simple_tag
def first_phase(phases) -> str:
    """ "<kind> · <instant>" for the next phase of a list row's phases (in time order) still to
    run, skipping those done; "All phases done" when every one ran; "" when none is left to run
    for another reason (cancelled, rolled back) or there is none."""
    if not phases:
        return ""
    phase = next((p for p in phases if p.state in _PHASE_STATES_TO_COME), None)
    if phase is None:
        if all(p.state in _PHASE_STATES_DONE for p in phases):
            return _("All phases done")
        return ""
    return format_html("{} · {}", _LABELS["phase_kind"].get(phase.kind, phase.kind), instant(phase.instant))


# Kept here rather than imported from plans.selectors: template tags import models and core only.
_PHASE_STATES_TO_COME = (PhaseState.PENDING, PhaseState.SCHEDULED, PhaseState.RUNNING)
_PHASE_STATES_DONE = (PhaseState.COMPLETED, PhaseState.SKIPPED)


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
    "move_state": _labels(ReassignmentState),
    # The message log: an inbound message is "received"; a reply has its outbox state.
    "log_state": {"received": _("Received"), **_labels(OutboxState)},
    "token_scope": _labels(TokenScope),
    "token_status": {"active": _("Active"), "expired": _("Expired"), "revoked": _("Revoked")},
}


def _make_label_filter(name: str):
    labels = _LABELS[name]

    def label(value):
        return labels.get(value, value)

    label.__name__ = name
    return label


for _name in _LABELS:
    register.filter(_name, _make_label_filter(_name))
