"""Sunset plans: drafting, the four-eyes approval and scheduling."""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from channels_app.audit.services import record_event
from channels_app.core import textrules
from channels_app.core.errors import InvalidTransition
from channels_app.core.permissions import require
from channels_app.core.reply_checks import public_notice_problems, reply_problems
from channels_app.core.textinput import first_unsafe
from channels_app.core.zones import LOCALE_RE, local_to_instant, zone_names
from channels_app.models import (
    PHASE_ORDER,
    REFERENCE_NAME,
    AutoReply,
    Channel,
    ChannelState,
    Phase,
    PhaseKind,
    PhaseState,
    PlanChannel,
    PlanEvent,
    PlanRegion,
    PlanState,
    PublicNotice,
    RedirectKind,
    RedirectTarget,
    ReferenceMode,
    SunsetPlan,
)
from channels_app.plans.services.notices import queue_plan_notices
from channels_app.plans.services.preflight import ConnectionCheck, check_connections, run_preflight
from channels_app.workforce.services.moves import confirm_moves

# A phase must be at least this far ahead when it is written or approved, so
# the beat sweep is never asked to run something already overdue.
MIN_LEAD = timedelta(seconds=1)


_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().-]{5,30}$")


@dataclass(frozen=True)
class PhaseInput:
    kind: str
    local_date: date
    local_time: time
    time_zone: str
    region: str = ""


@dataclass(frozen=True)
class RedirectInput:
    kind: str
    label: str
    value: str
    expected_share: float = 0.0
    # How the landing page passes the reference on ("" = the landing page's parameter), and the
    # query parameter or form field name for the named modes.
    reference_mode: str = ""
    reference_name: str = ""

    def reference(self) -> dict[str, str]:
        """The reference settings as a draft row or a snapshot keeps them: only when set, so rows
        without them read as before."""
        if not self.reference_mode:
            return {}
        return {"reference_mode": self.reference_mode, "reference_name": self.reference_name}


NAMED_REFERENCE_MODES = (ReferenceMode.QUERY, ReferenceMode.FORM_GET, ReferenceMode.FORM_POST)


@dataclass(frozen=True)
class RegionInput:
    """A follow-the-sun region: its zone and the plan's channels it retires."""

    name: str
    time_zone: str
    channel_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class AutoReplyInput:
    phase_kind: str
    locale: str
    text: str


@dataclass(frozen=True)
class PublicNoticeInput:
    """The public notice in one locale: `text` (the X post, the Messenger greeting, the YouTube
    description at the notice phase), `moved_text` (the same at the hard close), and the
    Discourse announcement topic's `title` and `body`."""

    locale: str
    text: str
    moved_text: str = ""
    title: str = ""
    body: str = ""


def follow_the_sun(kind: str, local_date: date, local_time: time, regions: Sequence[RegionInput]) -> list[PhaseInput]:
    """One phase per region at the same wall-clock time in each region's zone
    ("1 October 00:00 local time" becomes one instant per region)."""
    return [PhaseInput(kind, local_date, local_time, r.time_zone, r.name) for r in regions]


def _kind_label(kind: str) -> str:
    """A phase kind as people read it (its translated label); an unknown one as typed."""
    return str(PhaseKind(kind).label) if kind in PhaseKind.values else kind


def _utc(instant: datetime) -> str:
    return f"{instant:%Y-%m-%d %H:%M}"


class _Errors:
    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.by_field.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


def _validate_phases(
    phases: Sequence[PhaseInput], errors: _Errors, *, now: datetime
) -> list[tuple[PhaseInput, datetime]]:
    resolved: list[tuple[PhaseInput, datetime]] = []
    if not phases:
        errors.add("phases", _("A plan needs at least one phase."))
    seen: set[tuple[str, str]] = set()
    for i, phase in enumerate(phases):
        names = {"number": i + 1, "kind": _kind_label(phase.kind), "region": phase.region}
        if phase.region:
            label = _("Phase %(number)s (%(kind)s, %(region)s)") % names
        else:
            label = _("Phase %(number)s (%(kind)s)") % names
        if phase.kind not in PhaseKind.values:
            errors.add(
                "phases",
                _("%(label)s: unknown phase “%(kind)s”; use one of %(choices)s.")
                % {"label": label, "kind": phase.kind, "choices": ", ".join(PhaseKind.values)},
            )
            continue
        key = (phase.kind, phase.region)
        if key in seen:
            if phase.region:
                message = _("%(label)s: appears twice for region %(region)s.")
            else:
                message = _("%(label)s: appears twice.")
            errors.add("phases", message % {"label": label, "region": phase.region})
            continue
        seen.add(key)
        try:
            instant = local_to_instant(phase.local_date, phase.local_time, phase.time_zone)
        except ValidationError as exc:
            errors.add("phases", _("%(label)s: %(problem)s") % {"label": label, "problem": exc.messages[0]})
            continue
        if instant < now + MIN_LEAD:
            errors.add(
                "phases", _("%(label)s: %(instant)s UTC is in the past.") % {"label": label, "instant": _utc(instant)}
            )
            continue
        resolved.append((phase, instant))
    # Within a region, phases must come in lifecycle order.
    by_region: dict[str, list[tuple[PhaseInput, datetime]]] = {}
    for phase, instant in resolved:
        by_region.setdefault(phase.region, []).append((phase, instant))
    for region, items in by_region.items():
        items.sort(key=lambda item: PHASE_ORDER.index(item[0].kind))
        for (a, a_at), (b, b_at) in zip(items, items[1:], strict=False):
            if b_at <= a_at:
                if region:
                    message = _(
                        "Phases out of order in region %(region)s: %(later)s (%(later_at)s UTC) must come after "
                        "%(earlier)s (%(earlier_at)s UTC)."
                    )
                else:
                    message = _(
                        "Phases out of order: %(later)s (%(later_at)s UTC) must come after "
                        "%(earlier)s (%(earlier_at)s UTC)."
                    )
                values = {"region": region, "later": _kind_label(b.kind), "later_at": _utc(b_at)}
                values |= {"earlier": _kind_label(a.kind), "earlier_at": _utc(a_at)}
                errors.add("phases", message % values)
    return resolved


def _validate_regions(
    regions: Sequence[RegionInput], phases: Sequence[PhaseInput], channel_ids: Sequence[int], errors: _Errors
) -> None:
    names = [r.name.strip() for r in regions]
    if len(set(names)) != len(names):
        errors.add("regions", _("Each region needs its own name."))
    zones = {r.name.strip(): r.time_zone for r in regions}
    wanted = {int(c) for c in channel_ids}
    placed: dict[int, str] = {}
    for region in regions:
        if not region.name.strip():
            errors.add("regions", _("A region needs a name."))
        if region.time_zone not in zone_names():
            errors.add(
                "regions",
                _("Region %(region)s: unknown time zone “%(zone)s”.")
                % {"region": region.name, "zone": region.time_zone},
            )
        if not region.channel_ids:
            errors.add("regions", _("Region %(region)s: choose the channels it retires.") % {"region": region.name})
        for cid in region.channel_ids:
            if int(cid) not in wanted:
                errors.add(
                    "regions",
                    _("Region %(region)s: channel %(channel)s is not one of the plan's channels.")
                    % {"region": region.name, "channel": cid},
                )
            elif int(cid) in placed:
                errors.add(
                    "regions",
                    _("Channel %(channel)s is in two regions (%(first)s and %(second)s).")
                    % {"channel": cid, "first": placed[int(cid)], "second": region.name},
                )
            else:
                placed[int(cid)] = region.name
    if regions:
        missing = wanted - set(placed)
        if missing:
            errors.add(
                "regions",
                _("Put every channel in a region; missing: %(channels)s.")
                % {"channels": ", ".join(map(str, sorted(missing)))},
            )
    for phase in phases:
        values = {"phase": _kind_label(phase.kind), "region": phase.region, "zone": zones.get(phase.region, "")}
        if regions and phase.region not in zones:
            errors.add(
                "phases", _("The %(phase)s phase names region “%(region)s”, which the plan does not have.") % values
            )
        elif regions and zones[phase.region] != phase.time_zone:
            errors.add(
                "phases", _("The %(phase)s phase of region %(region)s must use the region's zone %(zone)s.") % values
            )
        elif not regions and phase.region:
            errors.add(
                "phases", _("The %(phase)s phase names region “%(region)s” but the plan has no regions.") % values
            )


def _validate_redirects(redirects: Sequence[RedirectInput], errors: _Errors) -> None:
    url_ok = URLValidator(schemes=["http", "https"])
    for i, target in enumerate(redirects):
        values = {"label": _("Redirect %(n)s") % {"n": i + 1}, "kind": target.kind, "value": target.value}
        if target.kind not in RedirectKind.values:
            errors.add("redirects", _("%(label)s: unknown kind “%(kind)s”.") % values)
            continue
        if not target.label.strip():
            errors.add("redirects", _("%(label)s: a label is required.") % values)
        if target.kind == RedirectKind.PHONE:
            if not _PHONE_RE.match(target.value.strip()):
                errors.add("redirects", _("%(label)s: “%(value)s” is not a phone number.") % values)
        elif target.kind == RedirectKind.URL:
            try:
                url_ok(target.value.strip())
            except ValidationError:
                errors.add("redirects", _("%(label)s: “%(value)s” is not an http(s) URL.") % values)
        elif not target.value.strip() or " " in target.value.strip():
            errors.add("redirects", _("%(label)s: “%(value)s” is not an app link.") % values)
        if not 0.0 <= target.expected_share <= 1.0:
            errors.add("redirects", _("%(label)s: expected share must be between 0 and 1.") % values)
        _validate_reference(target, values, errors)


def _validate_reference(target: RedirectInput, values: dict, errors: _Errors) -> None:
    """The reference settings of one target: a known mode; a safe name for the named ones, none
    for the others; a phone number takes no reference (the landing page shows the number)."""
    mode, name = target.reference_mode, target.reference_name
    if mode not in ReferenceMode.values:
        errors.add(
            "redirects", _("%(label)s: unknown way to pass the reference “%(mode)s”.") % {**values, "mode": mode}
        )
    elif mode in NAMED_REFERENCE_MODES:
        if target.kind == RedirectKind.PHONE:
            errors.add("redirects", _("%(label)s: a phone number takes no reference.") % values)
        elif not re.fullmatch(REFERENCE_NAME, name or ""):
            errors.add(
                "redirects",
                _(
                    "%(label)s: name the reference's parameter or field with letters, digits, _ . or -, starting with a letter."
                )
                % values,
            )
    elif name:
        errors.add("redirects", _("%(label)s: only a query parameter or a form field has a name.") % values)


def _validate_redirect_shares(redirects: Sequence[RedirectInput], errors: _Errors) -> None:
    """Expected shares say where the customers go: when any is given, they must account for all
    of them (100%), or the staffing estimates built on them count customers twice or lose some."""
    total = round(sum(target.expected_share for target in redirects) * 100)
    if total and total != 100:
        errors.add(
            "redirects",
            _("Expected shares add up to %(total)s%%; when given, they must total 100%%.") % {"total": total},
        )


def _validate_auto_replies(
    replies: Sequence[AutoReplyInput], channel_kinds: Iterable[str], phase_kinds: set[str], errors: _Errors
) -> None:
    seen: set[tuple[str, str]] = set()
    kinds = sorted(set(channel_kinds))
    for reply in replies:
        values = {"phase": _kind_label(reply.phase_kind), "kind": reply.phase_kind, "locale": reply.locale}
        values["label"] = _("Auto-reply %(phase)s/%(locale)s") % values
        if reply.phase_kind not in PhaseKind.values:
            errors.add("auto_replies", _("%(label)s: unknown phase “%(kind)s”.") % values)
            continue
        if reply.phase_kind not in phase_kinds:
            errors.add("auto_replies", _("%(label)s: the plan has no %(phase)s phase.") % values)
        if not LOCALE_RE.match(reply.locale):
            errors.add("auto_replies", _("%(label)s: “%(locale)s” is not a locale code such as en or pt-BR.") % values)
            continue
        if (reply.phase_kind, reply.locale) in seen:
            errors.add("auto_replies", _("%(label)s: written twice.") % values)
            continue
        seen.add((reply.phase_kind, reply.locale))
        if not reply.text.strip():
            errors.add("auto_replies", _("%(label)s: the text is empty.") % values)
            continue
        unknown = textrules.unknown_placeholders(reply.text)
        if unknown:
            values["unknown"] = ", ".join("{" + u + "}" for u in unknown)
            values["known"] = ", ".join("{" + p + "}" for p in textrules.PLACEHOLDERS)
            message = ngettext(
                "%(label)s: unknown placeholder %(unknown)s; known: %(known)s.",
                "%(label)s: unknown placeholders %(unknown)s; known: %(known)s.",
                len(unknown),
            )
            errors.add("auto_replies", message % values)
            continue
        for kind in kinds:
            for message in reply_problems(reply.text, kind):
                errors.add("auto_replies", _("%(label)s: %(problem)s") % {"label": values["label"], "problem": message})


def _validate_public_notices(
    notices: Sequence[PublicNoticeInput],
    channel_kinds: Iterable[str],
    phase_kinds: set[str],
    default_locale: str,
    errors: _Errors,
) -> None:
    """Each field of each locale against the limits of the platforms it will be published on:
    the notice-phase text needs a notice phase, the "has moved" text a hard close. The plan's
    default locale is published first everywhere (the forum topic's title, the YouTube channel's
    own description), so it must say everything; other locales may leave a field empty, and
    are published where they say something."""
    if notices and default_locale not in {n.locale for n in notices}:
        errors.add(
            "public_notices",
            _("Write the public notice in the plan's default locale (%(locale)s) too.") % {"locale": default_locale},
        )
    seen: set[str] = set()
    for notice in notices:
        label = _("Public notice %(locale)s") % {"locale": notice.locale}
        if not LOCALE_RE.match(notice.locale):
            errors.add(
                "public_notices",
                _("%(label)s: “%(locale)s” is not a locale code such as en or pt-BR.")
                % {"label": label, "locale": notice.locale},
            )
            continue
        if notice.locale in seen:
            errors.add("public_notices", _("%(label)s: written twice.") % {"label": label})
            continue
        seen.add(notice.locale)
        found = public_notice_field_problems(
            notice, channel_kinds=channel_kinds, phase_kinds=phase_kinds, default_locale=default_locale
        )
        for field, problems in found.items():
            for problem in problems:
                errors.add(
                    "public_notices",
                    _("%(label)s, %(field)s: %(problem)s")
                    % {"label": label, "field": PUBLIC_NOTICE_FIELD_LABELS[field], "problem": problem},
                )


def public_notice_field_problems(
    notice: PublicNoticeInput, *, channel_kinds: Iterable[str], phase_kinds: set[str], default_locale: str
) -> dict[str, list[str]]:
    """What is wrong with each field of one locale's public notice, for the platforms it will be
    published on (the wizard's form and the service say the same). A field no phase publishes,
    or left empty in a locale other than the default, is not checked."""
    kinds = set(channel_kinds)
    needed = {"text": PhaseKind.NOTICE in phase_kinds, "moved_text": PhaseKind.HARD_CLOSE in phase_kinds}
    needed["title"] = needed["body"] = needed["text"]
    found: dict[str, list[str]] = {}
    for field in textrules.PUBLIC_FIELDS:
        value = getattr(notice, field)
        if not value.strip() and (not needed[field] or notice.locale != default_locale):
            continue
        problems = public_notice_problems(field, value, kinds)
        if problems:
            found[field] = problems
    return found


PUBLIC_NOTICE_FIELD_LABELS = {
    "text": gettext_lazy("announcement"),
    "moved_text": gettext_lazy("“has moved” text"),
    "title": gettext_lazy("forum title"),
    "body": gettext_lazy("forum body"),
}


def _load_channels(channel_ids: Sequence[int], errors: _Errors, *, plan: SunsetPlan | None) -> list[Channel]:
    ids = list(dict.fromkeys(int(i) for i in channel_ids))
    if not ids:
        errors.add("channels", _("Choose at least one channel to retire."))
        return []
    channels = list(Channel.objects.filter(pk__in=ids))
    missing = set(ids) - {c.pk for c in channels}
    if missing:
        message = ngettext("Unknown channel id: %(ids)s.", "Unknown channel ids: %(ids)s.", len(missing))
        errors.add("channels", message % {"ids": ", ".join(map(str, sorted(missing)))})
    busy = (
        PlanChannel.objects.filter(channel_id__in=ids, is_open=True)
        .exclude(plan=plan)
        .select_related("plan", "channel")
    )
    for pc in busy:
        errors.add(
            "channels",
            _("%(channel)s already belongs to the open plan “%(plan)s”.")
            % {"channel": pc.channel.name, "plan": pc.plan.title},
        )
    for channel in channels:
        if channel.state == ChannelState.RETIRED:
            errors.add("channels", _("%(channel)s is already retired.") % {"channel": channel.name})
    return channels


def _snapshot(plan: SunsetPlan) -> dict:
    return {
        "title": plan.title,
        "state": plan.state,
        "version": plan.version,
        "default_locale": plan.default_locale,
        "channels": sorted(plan.plan_channels.values_list("channel_id", flat=True)),
        "regions": list(plan.regions.order_by("name").values("name", "time_zone")),
        "phases": [
            {
                "kind": p.kind,
                "region": p.region,
                "local": f"{p.local_date} {p.local_time:%H:%M}",
                "time_zone": p.time_zone,
                "instant": p.instant.isoformat(),
                "state": p.state,
            }
            for p in plan.phases.order_by("instant", "id")
        ],
        "redirects": [
            {"kind": r.kind, "label": r.label, "value": r.value, "expected_share": r.expected_share}
            | RedirectInput(r.kind, r.label, r.value, r.expected_share, r.reference_mode, r.reference_name).reference()
            for r in plan.redirects.order_by("position")
        ],
        "auto_replies": list(plan.auto_replies.order_by("phase_kind", "locale").values("phase_kind", "locale", "text")),
        "public_notices": list(
            plan.public_notices.order_by("locale").values("locale", "text", "moved_text", "title", "body")
        ),
    }


def _validated_contents(
    *,
    title: str,
    channel_ids: Sequence[int],
    phases: Sequence[PhaseInput],
    redirects: Sequence[RedirectInput],
    auto_replies: Sequence[AutoReplyInput],
    default_locale: str,
    plan: SunsetPlan | None,
    now: datetime,
    regions: Sequence[RegionInput] = (),
    public_notices: Sequence[PublicNoticeInput] = (),
):
    errors = _Errors()
    if not title.strip():
        errors.add("title", _("A title is required."))
    elif len(title) > 200:
        errors.add("title", _("Keep the title under 200 characters."))
    elif first_unsafe(title, multiline=False):
        errors.add(
            "title",
            _("The title is one line without control characters (it holds %(char)s).")
            % {"char": first_unsafe(title, multiline=False)},
        )
    if not LOCALE_RE.match(default_locale or ""):
        errors.add(
            "default_locale", _("“%(locale)s” is not a locale code such as en or fr.") % {"locale": default_locale}
        )
    channels = _load_channels(channel_ids, errors, plan=plan)
    resolved = _validate_phases(phases, errors, now=now)
    _validate_regions(regions, phases, channel_ids, errors)
    _validate_redirects(redirects, errors)
    _validate_redirect_shares(redirects, errors)
    _validate_auto_replies(auto_replies, [c.kind for c in channels], {p.kind for p in phases}, errors)
    _validate_public_notices(
        public_notices, [c.kind for c in channels], {p.kind for p in phases}, default_locale, errors
    )
    errors.raise_if_any()
    return channels, resolved


def _write_contents(plan, channels, resolved, redirects, auto_replies, regions=(), public_notices=()) -> None:
    region_of = {int(cid): r.name.strip() for r in regions for cid in r.channel_ids}
    PlanRegion.objects.filter(plan=plan).delete()
    PlanRegion.objects.bulk_create([PlanRegion(plan=plan, name=r.name.strip(), time_zone=r.time_zone) for r in regions])
    PlanChannel.objects.filter(plan=plan).delete()
    Phase.objects.filter(plan=plan).delete()
    RedirectTarget.objects.filter(plan=plan).delete()
    AutoReply.objects.filter(plan=plan).delete()
    try:
        with transaction.atomic():
            PlanChannel.objects.bulk_create(
                [PlanChannel(plan=plan, channel=c, region=region_of.get(c.pk, "")) for c in channels]
            )
    except IntegrityError:
        # Lost a race with another plan claiming the same channel.
        raise ValidationError({"channels": [_("One of these channels was just added to another open plan.")]}) from None
    Phase.objects.bulk_create(
        [
            Phase(
                plan=plan,
                kind=p.kind,
                region=p.region,
                local_date=p.local_date,
                local_time=p.local_time,
                time_zone=p.time_zone,
                instant=instant,
            )
            for p, instant in resolved
        ]
    )
    RedirectTarget.objects.bulk_create(
        [
            RedirectTarget(
                plan=plan,
                position=i,
                kind=r.kind,
                label=r.label.strip(),
                value=r.value.strip(),
                expected_share=r.expected_share,
                reference_mode=r.reference_mode,
                reference_name=r.reference_name.strip() if r.reference_mode in NAMED_REFERENCE_MODES else "",
            )
            for i, r in enumerate(redirects)
        ]
    )
    AutoReply.objects.bulk_create(
        [AutoReply(plan=plan, phase_kind=a.phase_kind, locale=a.locale, text=a.text) for a in auto_replies]
    )
    PublicNotice.objects.filter(plan=plan).delete()
    PublicNotice.objects.bulk_create(
        [
            PublicNotice(
                plan=plan,
                locale=n.locale,
                text=n.text.strip(),
                moved_text=n.moved_text.strip(),
                title=n.title.strip(),
                body=n.body.strip(),
            )
            for n in public_notices
        ]
    )


# --- drafting -------------------------------------------------------------------


@transaction.atomic
def create_plan(
    *,
    actor,
    title: str,
    channel_ids: Sequence[int],
    phases: Sequence[PhaseInput],
    redirects: Sequence[RedirectInput] = (),
    auto_replies: Sequence[AutoReplyInput] = (),
    default_locale: str = "en",
    regions: Sequence[RegionInput] = (),
    public_notices: Sequence[PublicNoticeInput] = (),
    now: datetime | None = None,
) -> SunsetPlan:
    require(actor, "draft_plan")
    now = now or timezone.now()
    channels, resolved = _validated_contents(
        title=title,
        channel_ids=channel_ids,
        phases=phases,
        redirects=redirects,
        auto_replies=auto_replies,
        default_locale=default_locale,
        plan=None,
        now=now,
        regions=regions,
        public_notices=public_notices,
    )
    plan = SunsetPlan.objects.create(title=title.strip(), author=actor, default_locale=default_locale)
    _write_contents(plan, channels, resolved, redirects, auto_replies, regions, public_notices)
    record_event(actor=actor, action="plan.created", obj=plan, after=_snapshot(plan))
    return plan


# Plans whose contents may be copied into a new draft: nothing of them runs any more.
COPYABLE_PLAN_STATES = (PlanState.ROLLED_BACK, PlanState.CANCELLED, PlanState.FAILED)


def copy_plan_into_draft(*, actor, plan: SunsetPlan, now: datetime | None = None) -> SunsetPlan:
    """A new draft with the plan's channels, regions, redirects and auto-replies, and its phases
    at the same local times, their dates moved so that the first is a week from today (the old
    dates have passed). The author reviews and submits it as any draft."""
    require(actor, "draft_plan")
    now = now or timezone.now()
    if plan.state not in COPYABLE_PLAN_STATES:
        raise InvalidTransition(
            _("This plan is %(state)s; only a rolled back, cancelled or failed plan can be copied.")
            % {"state": plan.get_state_display().lower()}
        )
    phases = list(plan.phases.order_by("instant", "id"))
    shift = timedelta(0)
    if phases:
        first = min(p.local_date for p in phases)
        shift = max(timedelta(0), (now.date() + timedelta(days=7)) - first)
    regions = [
        RegionInput(
            r.name,
            r.time_zone,
            tuple(plan.plan_channels.filter(region=r.name).values_list("channel_id", flat=True)),
        )
        for r in plan.regions.order_by("name")
    ]
    copy = create_plan(
        actor=actor,
        title=_("Copy of %(title)s") % {"title": plan.title},
        channel_ids=list(plan.plan_channels.values_list("channel_id", flat=True)),
        phases=[PhaseInput(p.kind, p.local_date + shift, p.local_time, p.time_zone, p.region) for p in phases],
        redirects=[
            RedirectInput(r.kind, r.label, r.value, r.expected_share, r.reference_mode, r.reference_name)
            for r in plan.redirects.order_by("position")
        ],
        auto_replies=[
            AutoReplyInput(a.phase_kind, a.locale, a.text) for a in plan.auto_replies.order_by("phase_kind", "locale")
        ],
        default_locale=plan.default_locale,
        regions=regions,
        public_notices=[
            PublicNoticeInput(n.locale, n.text, n.moved_text, n.title, n.body)
            for n in plan.public_notices.order_by("locale")
        ],
        now=now,
    )
    record_event(actor=actor, action="plan.copied", obj=copy, before={"from_plan": plan.pk}, after={"plan": copy.pk})
    return copy


def _locked(plan: SunsetPlan | int) -> SunsetPlan:
    pk = plan.pk if isinstance(plan, SunsetPlan) else plan
    return SunsetPlan.objects.select_for_update().get(pk=pk)


# One whole sentence per refusal (translators cannot build "only a … plan can be …"
# from pieces): %(title)s and %(state)s are filled in by _require_state.
_ONLY_DRAFT_EDITED = gettext_lazy("“%(title)s” is %(state)s; only a draft plan can be edited.")
_ONLY_DRAFT_SUBMITTED = gettext_lazy("“%(title)s” is %(state)s; only a draft plan can be submitted.")
_ONLY_PENDING_APPROVED = gettext_lazy("“%(title)s” is %(state)s; only a pending approval plan can be approved.")
_ONLY_PENDING_SENT_BACK = gettext_lazy("“%(title)s” is %(state)s; only a pending approval plan can be sent back.")
_ONLY_OPEN_CANCELLED = gettext_lazy(
    "“%(title)s” is %(state)s; only a draft or pending approval or scheduled plan can be cancelled."
)
_ONLY_OPEN_RESCHEDULED = gettext_lazy(
    "“%(title)s” is %(state)s; only a draft or pending approval or scheduled plan can be rescheduled."
)


def _require_state(plan: SunsetPlan, states: Iterable[str], refusal) -> None:
    if plan.state not in tuple(states):
        raise InvalidTransition(refusal % {"title": plan.title, "state": plan.get_state_display().lower()})


@transaction.atomic
def update_plan(
    *,
    actor,
    plan: SunsetPlan | int,
    title: str,
    channel_ids: Sequence[int],
    phases: Sequence[PhaseInput],
    redirects: Sequence[RedirectInput] = (),
    auto_replies: Sequence[AutoReplyInput] = (),
    default_locale: str = "en",
    regions: Sequence[RegionInput] = (),
    public_notices: Sequence[PublicNoticeInput] | None = None,
    now: datetime | None = None,
) -> SunsetPlan:
    """A new version of a draft plan. `public_notices` None keeps the plan's public notice as it
    is (a caller that does not edit it, such as the API, never drops it)."""
    require(actor, "draft_plan")
    plan = _locked(plan)
    if public_notices is None:
        public_notices = [
            PublicNoticeInput(n.locale, n.text, n.moved_text, n.title, n.body)
            for n in plan.public_notices.order_by("locale")
        ]
    _require_state(plan, [PlanState.DRAFT], _ONLY_DRAFT_EDITED)
    now = now or timezone.now()
    before = _snapshot(plan)
    channels, resolved = _validated_contents(
        title=title,
        channel_ids=channel_ids,
        phases=phases,
        redirects=redirects,
        auto_replies=auto_replies,
        default_locale=default_locale,
        plan=plan,
        now=now,
        regions=regions,
        public_notices=public_notices,
    )
    plan.title = title.strip()
    plan.default_locale = default_locale
    plan.version += 1
    plan.save(update_fields=["title", "default_locale", "version", "updated_at"])
    _write_contents(plan, channels, resolved, redirects, auto_replies, regions, public_notices)
    record_event(actor=actor, action="plan.updated", obj=plan, before=before, after=_snapshot(plan))
    return plan


# --- four eyes --------------------------------------------------------------------


def _check_ready(plan: SunsetPlan, *, now: datetime, connections: list[ConnectionCheck]) -> None:
    """The preflight (preflight.py): readiness, the agent guard, replies, credentials and the
    connection tests made before the plan was locked."""
    run_preflight(plan, now=now, connections=connections).raise_if_failed()


def _plan_connections(plan: SunsetPlan | int) -> list[ConnectionCheck]:
    """The plan's connection tests, made before the plan row is locked: a platform that takes
    its time must not hold the lock (or a transaction) open."""
    plan_id = plan.pk if isinstance(plan, SunsetPlan) else plan
    return check_connections(Channel.objects.filter(plans=plan_id).order_by("name"))


def submit_plan(*, actor, plan: SunsetPlan | int, now: datetime | None = None) -> SunsetPlan:
    """Send a draft for approval once its preflight passes; refused with the reasons otherwise."""
    require(actor, "submit_plan")
    return _submit(actor=actor, plan=plan, now=now, connections=_plan_connections(plan))


@transaction.atomic
def _submit(*, actor, plan: SunsetPlan | int, now: datetime | None, connections: list[ConnectionCheck]) -> SunsetPlan:
    plan = _locked(plan)
    _require_state(plan, [PlanState.DRAFT], _ONLY_DRAFT_SUBMITTED)
    now = now or timezone.now()
    _check_ready(plan, now=now, connections=connections)
    before = {"state": plan.state}
    plan.state = PlanState.PENDING_APPROVAL
    plan.submitted_at = now
    plan.review_comment = ""
    plan.save(update_fields=["state", "submitted_at", "review_comment", "updated_at"])
    # The snapshot lets a reviewer see what changed since the last review.
    event = record_event(
        actor=actor,
        action="plan.submitted",
        obj=plan,
        before=before,
        after={"state": plan.state, "snapshot": _snapshot(plan)},
    )
    queue_plan_notices(event=PlanEvent.SUBMITTED, plan=plan, occurrence=f"audit:{event.pk}", actor=actor)
    return plan


def approve_plan(*, actor, plan: SunsetPlan | int, comment: str = "", now: datetime | None = None) -> SunsetPlan:
    """Approve a plan someone else wrote, once its preflight passes again (credentials may have
    been revoked, a team filled up since it was submitted)."""
    require(actor, "approve_plan")
    return _approve(actor=actor, plan=plan, comment=comment, now=now, connections=_plan_connections(plan))


@transaction.atomic
def _approve(
    *, actor, plan: SunsetPlan | int, comment: str, now: datetime | None, connections: list[ConnectionCheck]
) -> SunsetPlan:
    plan = _locked(plan)
    if plan.author_id == actor.pk:
        raise PermissionDenied(_("The author of a plan cannot approve it: a second person must."))
    _require_state(plan, [PlanState.PENDING_APPROVAL], _ONLY_PENDING_APPROVED)
    now = now or timezone.now()
    _check_ready(plan, now=now, connections=connections)
    before = {"state": plan.state}
    plan.state = PlanState.SCHEDULED
    plan.approved_by = actor
    plan.approved_at = now
    plan.review_comment = comment
    plan.save(update_fields=["state", "approved_by", "approved_at", "review_comment", "updated_at"])
    plan.phases.filter(state=PhaseState.PENDING).update(state=PhaseState.SCHEDULED)
    event = record_event(
        actor=actor,
        action="plan.approved",
        obj=plan,
        before=before,
        # The approved version, kept so the next review can show what changed since.
        after={"state": plan.state, "comment": comment, "version": plan.version, "snapshot": _snapshot(plan)},
    )
    queue_plan_notices(
        event=PlanEvent.APPROVED, plan=plan, occurrence=f"audit:{event.pk}", actor=actor, comment=comment
    )
    return plan


@transaction.atomic
def reject_plan(*, actor, plan: SunsetPlan | int, comment: str) -> SunsetPlan:
    require(actor, "approve_plan")
    plan = _locked(plan)
    if plan.author_id == actor.pk:
        raise PermissionDenied(_("The author of a plan cannot review it."))
    _require_state(plan, [PlanState.PENDING_APPROVAL], _ONLY_PENDING_SENT_BACK)
    if not comment.strip():
        raise ValidationError({"comment": [_("Say what must change before the plan can be approved.")]})
    before = {"state": plan.state}
    plan.state = PlanState.DRAFT
    plan.review_comment = comment.strip()
    plan.save(update_fields=["state", "review_comment", "updated_at"])
    event = record_event(
        actor=actor, action="plan.rejected", obj=plan, before=before, after={"state": plan.state, "comment": comment}
    )
    queue_plan_notices(
        event=PlanEvent.SENT_BACK, plan=plan, occurrence=f"audit:{event.pk}", actor=actor, comment=plan.review_comment
    )
    return plan


@transaction.atomic
def cancel_plan(*, actor, plan: SunsetPlan | int, reason: str = "") -> SunsetPlan:
    """Cancel what has not run yet. Races with the beat sweep's claim: both take
    the plan row lock first, and the phase's conditional UPDATE decides."""
    require(actor, "cancel_plan")
    plan = _locked(plan)
    _require_state(plan, [PlanState.DRAFT, PlanState.PENDING_APPROVAL, PlanState.SCHEDULED], _ONLY_OPEN_CANCELLED)
    if plan.phases.filter(state=PhaseState.RUNNING).exists():
        raise InvalidTransition(_("A phase of “%(title)s” is running; wait for it to finish.") % {"title": plan.title})
    before = {"state": plan.state}
    cancelled = plan.phases.filter(state__in=[PhaseState.PENDING, PhaseState.SCHEDULED]).update(
        state=PhaseState.CANCELLED
    )
    plan.state = PlanState.CANCELLED
    plan.save(update_fields=["state", "updated_at"])
    PlanChannel.objects.filter(plan=plan).update(is_open=False)
    record_event(
        actor=actor,
        action="plan.cancelled",
        obj=plan,
        before=before,
        after={"state": plan.state, "reason": reason, "phases_cancelled": cancelled},
    )
    return plan


@transaction.atomic
def reschedule_phase(
    *, actor, phase: Phase | int, local_date: date, local_time: time, time_zone: str, now: datetime | None = None
) -> Phase:
    require(actor, "reschedule_plan")
    phase_id = phase.pk if isinstance(phase, Phase) else phase
    plan = _locked(Phase.objects.values_list("plan_id", flat=True).get(pk=phase_id))
    phase = Phase.objects.get(pk=phase_id)
    _require_state(plan, [PlanState.DRAFT, PlanState.PENDING_APPROVAL, PlanState.SCHEDULED], _ONLY_OPEN_RESCHEDULED)
    if phase.state not in (PhaseState.PENDING, PhaseState.SCHEDULED):
        raise InvalidTransition(
            _("The %(phase)s phase is %(state)s; it cannot move.")
            % {"phase": phase.get_kind_display(), "state": phase.get_state_display().lower()}
        )
    now = now or timezone.now()
    others = [
        PhaseInput(p.kind, p.local_date, p.local_time, p.time_zone, p.region)
        for p in plan.phases.filter(region=phase.region).exclude(pk=phase.pk)
        if p.state in (PhaseState.PENDING, PhaseState.SCHEDULED)
    ]
    errors = _Errors()
    moved = PhaseInput(phase.kind, local_date, local_time, time_zone, phase.region)
    _validate_phases([moved, *others], errors, now=now)
    done = plan.phases.filter(region=phase.region, state=PhaseState.COMPLETED)
    instant = None
    if not errors.by_field:
        instant = local_to_instant(local_date, local_time, time_zone)
        for earlier in done:
            if PHASE_ORDER.index(earlier.kind) > PHASE_ORDER.index(phase.kind):
                errors.add(
                    "phases",
                    _("The %(earlier)s phase already ran; %(phase)s cannot come after it.")
                    % {"earlier": earlier.get_kind_display(), "phase": phase.get_kind_display()},
                )
    errors.raise_if_any()
    before = {
        "local": f"{phase.local_date} {phase.local_time:%H:%M}",
        "time_zone": phase.time_zone,
        "instant": phase.instant.isoformat(),
    }
    # Conditional so a phase claimed a moment ago is not moved under the worker.
    updated = Phase.objects.filter(pk=phase.pk, state__in=[PhaseState.PENDING, PhaseState.SCHEDULED]).update(
        local_date=local_date, local_time=local_time, time_zone=time_zone, instant=instant
    )
    if not updated:
        raise InvalidTransition(_("The phase started running before it could be moved."))
    phase.refresh_from_db()
    record_event(
        actor=actor,
        action="phase.rescheduled",
        obj=phase,
        before=before,
        after={"local": f"{local_date} {local_time:%H:%M}", "time_zone": time_zone, "instant": instant.isoformat()},
    )
    if plan.state == PlanState.SCHEDULED:
        _return_to_approval(actor=actor, plan=plan, phase=phase)
    return phase


def _return_to_approval(*, actor, plan: SunsetPlan, phase: Phase) -> None:
    """An approved plan whose timing changed goes back to its approvers: four eyes saw the old
    dates, not these (moving a phase from next September to the day after tomorrow is a new
    decision). Its phases wait, unclaimed, until the plan is approved again."""
    before = {"state": plan.state, "approved_by": plan.approved_by_id}
    plan.state = PlanState.PENDING_APPROVAL
    plan.approved_by = None
    plan.approved_at = None
    plan.save(update_fields=["state", "approved_by", "approved_at", "updated_at"])
    plan.phases.filter(state=PhaseState.SCHEDULED).update(state=PhaseState.PENDING)
    record_event(
        actor=actor,
        action="plan.returned_to_approval",
        obj=plan,
        before=before,
        after={"state": plan.state, "because": "phase.rescheduled", "phase": phase.pk},
    )


# --- reassignments (HR) -----------------------------------------------------------------


def confirm_reassignments(*, actor, plan: SunsetPlan | int, reassignment_ids: Sequence[int] | None = None) -> int:
    """Confirm proposed moves; capacity is checked in the workforce module."""
    return confirm_moves(actor=actor, plan=plan, reassignment_ids=reassignment_ids)


# --- field checks for forms (the same rules create_plan applies) ----------------------


def redirect_problems(target: RedirectInput) -> list[str]:
    """What is wrong with one redirect target, without the "Redirect n:" prefix."""
    errors = _Errors()
    _validate_redirects([target], errors)
    return [m.split(": ", 1)[1] for m in errors.by_field.get("redirects", [])]


def reference_problems(target: RedirectInput) -> list[str]:
    """What is wrong with how one redirect target is told the reference (a part of
    `redirect_problems`), without the "Redirect n:" prefix."""
    errors = _Errors()
    _validate_reference(target, {"label": "", "kind": target.kind, "value": target.value}, errors)
    return [m.split(": ", 1)[1] for m in errors.by_field.get("redirects", [])]


def auto_reply_problems(reply: AutoReplyInput, *, channel_kinds: Iterable[str], phase_kinds: set[str]) -> list[str]:
    """What is wrong with one auto-reply for these channels and phases."""
    errors = _Errors()
    _validate_auto_replies([reply], channel_kinds, phase_kinds, errors)
    return [m.split(": ", 1)[1] for m in errors.by_field.get("auto_replies", [])]


def plan_snapshot(plan: SunsetPlan) -> dict:
    """The reviewable content of a plan, as recorded on submission and approval."""
    return _snapshot(plan)


__all__ = [
    "AutoReplyInput",
    "PublicNoticeInput",
    "public_notice_field_problems",
    "PhaseInput",
    "RedirectInput",
    "RegionInput",
    "follow_the_sun",
    "approve_plan",
    "auto_reply_problems",
    "cancel_plan",
    "confirm_reassignments",
    "create_plan",
    "plan_snapshot",
    "redirect_problems",
    "reference_problems",
    "reject_plan",
    "reschedule_phase",
    "submit_plan",
    "update_plan",
]
