"""The sunset wizard's drafts: opened, saved as people type, finished into a plan, discarded."""

import json
from datetime import date, datetime, time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from channels_app.core.permissions import require
from channels_app.models import PHASE_ORDER, LandingPage, PlanDraft, SunsetPlan
from channels_app.plans.services.landing import DEFAULT_ACCENT, DEFAULT_REFERENCE_PARAM, save_landing_page
from channels_app.plans.services.plans import (
    AutoReplyInput,
    PhaseInput,
    PublicNoticeInput,
    RedirectInput,
    create_plan,
    update_plan,
)

DRAFT_KEYS = (
    "title",
    "default_locale",
    "channel_ids",
    "phases",
    "redirects",
    "auto_replies",
    "landing",
    "public_notices",
)
# A draft is scratch space for a plan, bounded like one: a title of 200 characters, a few dozen
# phases and redirects, replies of a few thousand characters each in a few languages.
DRAFT_MAX_CHARS = 64_000
WIZARD_STEPS = ("channels", "phases", "redirects", "replies")


def _phase_rank(kind: str) -> int:
    return PHASE_ORDER.index(kind) if kind in PHASE_ORDER else len(PHASE_ORDER)


# The landing page's settings as a draft keeps them (strings; times as HH:MM).
LANDING_DEFAULTS = {
    "display_name": "",
    "accent": DEFAULT_ACCENT,
    "reference_param": DEFAULT_REFERENCE_PARAM,
    "phone_opens": "",
    "phone_closes": "",
    "phone_zone": "",
}


def _landing_from_plan(plan: SunsetPlan) -> dict[str, Any]:
    page = LandingPage.objects.filter(plan=plan).defer("logo").first()
    if page is None:
        return {}
    return {
        "landing": {
            "display_name": page.display_name,
            "accent": page.accent,
            "reference_param": page.reference_param,
            "phone_opens": page.phone_opens.strftime("%H:%M") if page.phone_opens else "",
            "phone_closes": page.phone_closes.strftime("%H:%M") if page.phone_closes else "",
            "phone_zone": page.phone_zone,
        }
    }


def _data_from_plan(plan: SunsetPlan) -> dict[str, Any]:
    return _landing_from_plan(plan) | {
        "title": plan.title,
        "default_locale": plan.default_locale,
        "channel_ids": sorted(plan.plan_channels.values_list("channel_id", flat=True)),
        "phases": [
            {
                "kind": p.kind,
                "local_date": p.local_date.isoformat(),
                "local_time": p.local_time.strftime("%H:%M"),
                "time_zone": p.time_zone,
                "region": p.region,
            }
            for p in plan.phases.order_by("instant", "id")
        ],
        "redirects": [
            {"kind": r.kind, "label": r.label, "value": r.value, "expected_share": r.expected_share}
            | RedirectInput(r.kind, r.label, r.value, r.expected_share, r.reference_mode, r.reference_name).reference()
            for r in plan.redirects.order_by("position")
        ],
        # In the order the phases run (notice, soft close, hard close, archive), not alphabetically.
        "auto_replies": [
            {"phase_kind": a.phase_kind, "locale": a.locale, "text": a.text}
            for a in sorted(plan.auto_replies.all(), key=lambda a: (_phase_rank(a.phase_kind), a.locale))
        ],
        # Kept whole when a plan is edited: update_plan writes what the draft holds.
        "public_notices": [
            {"locale": n.locale, "text": n.text, "moved_text": n.moved_text, "title": n.title, "body": n.body}
            for n in plan.public_notices.order_by("locale")
        ],
    }


# Wizard drafts are a person's scratch space, saved as they type (every second
# or so): they are deliberately not written to the audit trail, which records
# the plan itself when create_plan/update_plan turn a draft into a version.


@transaction.atomic
def open_plan_draft(*, actor, plan: SunsetPlan | None = None) -> PlanDraft:
    """The person's wizard in progress for a new plan (or for editing `plan`),
    created on first use; editing starts from the plan's current content."""
    require(actor, "draft_plan")
    if plan is not None and plan.state != "draft":
        raise ValidationError(
            _("“%(title)s” is %(state)s; only a draft can be edited.")
            % {"title": plan.title, "state": plan.get_state_display().lower()}
        )
    draft = PlanDraft.objects.select_for_update().filter(author=actor, plan=plan).first()
    if draft is None:
        data = _data_from_plan(plan) if plan is not None else {"default_locale": "en", "channel_ids": []}
        draft = PlanDraft.objects.create(author=actor, plan=plan, data=data)
    return draft


@transaction.atomic
def save_plan_draft(*, actor, draft: PlanDraft | int, data: dict[str, Any], step: str | None = None) -> PlanDraft:
    """Keep what was typed, as typed (validation happens per step and on finishing)."""
    require(actor, "draft_plan")
    pk = draft.pk if isinstance(draft, PlanDraft) else draft
    draft = PlanDraft.objects.select_for_update().get(pk=pk, author=actor)
    merged = {**draft.data, **{k: v for k, v in data.items() if k in DRAFT_KEYS}}
    if len(json.dumps(merged, ensure_ascii=False)) > DRAFT_MAX_CHARS:
        raise ValidationError(
            _("The draft is too long to keep (over %(limit)s characters): shorten it.") % {"limit": DRAFT_MAX_CHARS}
        )
    draft.data = merged
    if step is not None:
        if step not in WIZARD_STEPS:
            raise ValidationError(_("Unknown wizard step “%(step)s”.") % {"step": step})
        draft.step = step
    draft.save(update_fields=["data", "step", "updated_at"])
    return draft


@transaction.atomic
def set_draft_logo(*, actor, draft: PlanDraft | int, logo: bytes, logo_type: str) -> None:
    """Keep the logo uploaded in the wizard until the draft is finished (the form checked it)."""
    require(actor, "draft_plan")
    pk = draft.pk if isinstance(draft, PlanDraft) else draft
    PlanDraft.objects.filter(pk=pk, author=actor).update(logo=logo, logo_type=logo_type)


@transaction.atomic
def discard_plan_draft(*, actor, draft: PlanDraft | int) -> None:
    require(actor, "draft_plan")
    pk = draft.pk if isinstance(draft, PlanDraft) else draft
    PlanDraft.objects.filter(pk=pk, author=actor).delete()


def _parse(value: str, kind: type, label: str, errors: list[str]):
    try:
        if kind is date:
            return date.fromisoformat(str(value))
        return time.fromisoformat(str(value))
    except (TypeError, ValueError):
        if kind is date:
            message = _("%(label)s: “%(value)s” is not a valid date.")
        else:
            message = _("%(label)s: “%(value)s” is not a valid time.")
        errors.append(message % {"label": label, "value": value})
        return None


def draft_inputs(data: dict[str, Any]) -> dict[str, Any]:
    """The service inputs a draft's data stands for; ValidationError if a
    value cannot even be read (the per-step forms normally catch these)."""
    problems: list[str] = []
    phases = []
    for i, row in enumerate(data.get("phases") or []):
        if not (row.get("local_date") or row.get("local_time")):
            continue  # a row added and left empty
        label = _("Phase %(n)s") % {"n": i + 1}
        day = _parse(row.get("local_date"), date, label, problems)
        at = _parse(row.get("local_time"), time, label, problems)
        if day and at:
            phases.append(PhaseInput(row.get("kind", ""), day, at, row.get("time_zone", ""), row.get("region", "")))
    redirects = []
    for i, row in enumerate(data.get("redirects") or []):
        if not (row.get("label") or row.get("value")):
            continue
        try:
            share = float(row.get("expected_share") or 0)
        except (TypeError, ValueError):
            problems.append(_("Redirect %(n)s: the expected share must be a number.") % {"n": i + 1})
            share = 0.0
        redirects.append(
            RedirectInput(
                row.get("kind", ""),
                row.get("label", ""),
                row.get("value", ""),
                share,
                str(row.get("reference_mode") or ""),
                str(row.get("reference_name") or "").strip(),
            )
        )
    replies = [
        AutoReplyInput(row.get("phase_kind", ""), row.get("locale", ""), row.get("text", ""))
        for row in data.get("auto_replies") or []
        if (row.get("text") or "").strip()
    ]
    notices = [
        PublicNoticeInput(
            row.get("locale", ""),
            row.get("text", ""),
            row.get("moved_text", ""),
            row.get("title", ""),
            row.get("body", ""),
        )
        for row in data.get("public_notices") or []
        if any((row.get(f) or "").strip() for f in ("text", "moved_text", "title", "body"))
    ]
    if problems:
        raise ValidationError({"phases": problems})
    try:
        channel_ids = [int(pk) for pk in data.get("channel_ids") or []]
    except (TypeError, ValueError):
        raise ValidationError({"channels": [_("Choose channels from the list.")]}) from None
    inputs = {
        "title": data.get("title", ""),
        "channel_ids": channel_ids,
        "phases": phases,
        "redirects": redirects,
        "auto_replies": replies,
        "default_locale": data.get("default_locale") or "en",
    }
    # A draft begun before plans had a public notice says nothing of it: the plan's stays as is.
    if "public_notices" in data:
        inputs["public_notices"] = notices
    return inputs


@transaction.atomic
def finish_plan_draft(*, actor, draft: PlanDraft | int, now: datetime | None = None) -> SunsetPlan:
    """Write the draft as a plan (new, or a new version of the plan being
    edited) through create_plan/update_plan, then drop the draft. On a
    ValidationError nothing is written and the draft stays."""
    require(actor, "draft_plan")
    pk = draft.pk if isinstance(draft, PlanDraft) else draft
    draft = PlanDraft.objects.select_for_update().get(pk=pk, author=actor)
    inputs = draft_inputs(draft.data)
    if draft.plan_id is None:
        plan = create_plan(actor=actor, now=now, **inputs)
    else:
        plan = update_plan(actor=actor, plan=draft.plan_id, now=now, **inputs)
    _finish_landing(actor=actor, draft=draft, plan=plan)
    draft.delete()
    return plan


def _draft_time(value: Any, label: str) -> time | None:
    if not value:
        return None
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(
            {"landing": [_("%(label)s: “%(value)s” is not a valid time.") % {"label": label, "value": value}]}
        ) from None


def _finish_landing(*, actor, draft: PlanDraft, plan: SunsetPlan) -> None:
    """The landing page settings of the wizard's redirect step, through the one service: only
    when they were given (a plan without a landing page keeps the defaults and gets no row)."""
    values = {**LANDING_DEFAULTS, **(draft.data.get("landing") or {})}
    remove_logo = bool(values.pop("remove_logo", False))
    values = {k: str(v or "").strip() for k, v in values.items() if k in LANDING_DEFAULTS}
    untouched = values == LANDING_DEFAULTS and not draft.logo_type and not remove_logo
    if untouched and not LandingPage.objects.filter(plan=plan).exists():
        return
    try:
        save_landing_page(
            actor=actor,
            plan=plan,
            display_name=values["display_name"],
            accent=values["accent"],
            reference_param=values["reference_param"],
            phone_opens=_draft_time(values["phone_opens"], _("Phone opens")),
            phone_closes=_draft_time(values["phone_closes"], _("Phone closes")),
            phone_zone=values["phone_zone"],
            logo=bytes(draft.logo) if draft.logo_type else None,
            logo_type=draft.logo_type,
            remove_logo=remove_logo,
        )
    except ValidationError as exc:
        messages = [m for ms in exc.message_dict.values() for m in ms] if hasattr(exc, "error_dict") else exc.messages
        raise ValidationError({"landing": messages}) from None
