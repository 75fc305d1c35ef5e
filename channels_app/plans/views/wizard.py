"""The sunset wizard: channels, phases, redirects, auto-replies, then the plan
page with its impact. What is typed is saved as a draft as you go."""

import contextlib
import functools
from datetime import date, time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from channels_app.core import textrules
from channels_app.core.permissions import require
from channels_app.core.reply_checks import platform_label, public_notice_problems, reply_problems
from channels_app.core.views import FORM_ERROR_STATUS, error_dict, go
from channels_app.core.zones import LOCALE_RE, date_in_language, zone_choices
from channels_app.models import PHASE_ORDER, Channel, LandingPage, PlanChannel, PlanDraft, PlanState, SunsetPlan
from channels_app.plans.forms import (
    STEP_LABELS,
    AutoReplyFormSet,
    LandingPageForm,
    PhaseFormSet,
    PlanBasicsForm,
    PublicNoticeFormSet,
    RedirectFormSet,
    describe_instant,
)
from channels_app.plans.services.drafts import (
    DRAFT_MAX_CHARS,
    LANDING_DEFAULTS,
    WIZARD_STEPS,
    discard_plan_draft,
    finish_plan_draft,
    open_plan_draft,
    save_plan_draft,
    set_draft_logo,
)
from channels_app.plans.services.preflight import empty_placeholders, what_fills

# Per step: the formset prefix, its fields, and the fields that make a row "typed in".
ROWS = {
    "phases": ("phases", ("kind", "local_date", "local_time", "time_zone", "region"), ("local_date", "local_time")),
    "redirects": (
        "redirects",
        ("kind", "label", "value", "expected_share", "reference_mode", "reference_name"),
        ("label", "value"),
    ),
    "replies": ("replies", ("phase_kind", "locale", "text"), ("text",)),
    # The public notice: written on the replies step, below the replies (not a step of its own).
    "notice": ("notices", ("locale", *textrules.PUBLIC_FIELDS), textrules.PUBLIC_FIELDS),
}
DATA_KEY = {"phases": "phases", "redirects": "redirects", "replies": "auto_replies", "notice": "public_notices"}
ERROR_STEP = {"title": "channels", "channels": "channels", "default_locale": "channels", "phases": "phases"}
ERROR_STEP |= {"redirects": "redirects", "auto_replies": "replies", "landing": "redirects", "public_notices": "replies"}
# The landing page's settings are a section of the redirect step (LandingPageForm, this prefix).
LANDING_PREFIX = "landing"
LANDING_TEXT_FIELDS = ("display_name", "accent", "reference_param", "phone_opens", "phone_closes", "phone_zone")


def _draft_for(request, plan_id: int | None) -> PlanDraft:
    plan = None
    if plan_id is not None:
        plan = get_object_or_404(SunsetPlan, pk=plan_id)
        if plan.state != PlanState.DRAFT:
            raise Http404(_("Only a draft plan can be edited."))
    return open_plan_draft(actor=request.user, plan=plan)


def _own_draft(request, pk: int) -> PlanDraft:
    require(request.user, "draft_plan")
    return get_object_or_404(PlanDraft.objects.select_related("plan"), pk=pk, author=request.user)


def _raw_rows(post, step: str, *, keep_blank: bool) -> list[dict]:
    """The rows of a step's formset as typed, in order, without deleted ones. Without
    `keep_blank`, a row nothing was typed in is emptied (not dropped): the formset refuses it
    by its number rather than losing it without a word."""
    prefix, fields, typed = ROWS[step]
    try:
        total = min(int(post.get(f"{prefix}-TOTAL_FORMS", 0)), 100)
    except ValueError:
        total = 0
    rows = []
    for i in range(total):
        if post.get(f"{prefix}-{i}-DELETE"):
            continue
        row = {f: post.get(f"{prefix}-{i}-{f}", "") for f in fields}
        if step == "redirects":
            # Typed as a percentage, kept as a fraction like the service takes it.
            with contextlib.suppress(ValueError):
                row["expected_share"] = float(row["expected_share"]) / 100 if row["expected_share"] != "" else 0.0
        if not keep_blank and not any(str(row[f]).strip() for f in typed):
            row = dict.fromkeys(fields, "") | ({"expected_share": 0.0} if step == "redirects" else {})
        if step == "redirects" and not (row["reference_mode"] or row["reference_name"].strip()):
            # Kept only when set, as the plan's rows keep them (RedirectInput.reference).
            del row["reference_mode"], row["reference_name"]
        rows.append(row)
    return rows


def _stored_rows(draft: PlanDraft, step: str) -> list[dict]:
    rows = [dict(r) for r in draft.data.get(DATA_KEY[step]) or []]
    if step == "redirects":
        for row in rows:
            if isinstance(row.get("expected_share"), int | float):
                row["expected_share"] = round(row["expected_share"] * 100)
    return rows


def _bound(step: str, rows: list[dict]) -> dict:
    prefix, fields, _typed = ROWS[step]
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": "0"}
    for i, row in enumerate(rows):
        for f in fields:
            value = row.get(f, "")
            if step == "redirects" and f == "expected_share" and isinstance(value, float):
                value = round(value * 100)
            data[f"{prefix}-{i}-{f}"] = "" if value is None else str(value)
    return data


def _landing_posted(request) -> bool:
    """Whether the post holds the landing section (a post without it leaves the draft's as is)."""
    prefix = f"{LANDING_PREFIX}-"
    return any(key.startswith(prefix) for key in request.POST) or any(key.startswith(prefix) for key in request.FILES)


def _landing_raw(post) -> dict:
    """The landing section as typed (kept in the draft as it is, like the rows)."""
    raw = {f: post.get(f"{LANDING_PREFIX}-{f}", "") for f in LANDING_TEXT_FIELDS}
    raw["remove_logo"] = bool(post.get(f"{LANDING_PREFIX}-remove_logo"))
    return raw


def _landing_clean(form: LandingPageForm) -> dict:
    d = form.cleaned_data
    return {
        "display_name": d["display_name"].strip(),
        "accent": d["accent"],
        "reference_param": d["reference_param"],
        "phone_opens": d["phone_opens"].strftime("%H:%M") if d["phone_opens"] else "",
        "phone_closes": d["phone_closes"].strftime("%H:%M") if d["phone_closes"] else "",
        "phone_zone": d["phone_zone"],
        "remove_logo": bool(d["remove_logo"]),
    }


def _landing_form(draft: PlanDraft, values: dict | None = None) -> LandingPageForm:
    """The landing section unbound, from what the draft holds (else the defaults)."""
    initial = {**LANDING_DEFAULTS, **(values if values is not None else draft.data.get("landing") or {})}
    return LandingPageForm(initial=initial, prefix=LANDING_PREFIX)


def _draft_channels(draft: PlanDraft) -> list[Channel]:
    ids = [int(i) for i in draft.data.get("channel_ids") or [] if str(i).isdigit()]
    return list(Channel.objects.filter(pk__in=ids).order_by("name"))


def _default_rows(step: str, draft: PlanDraft) -> list[dict]:
    zone = timezone.get_current_timezone_name()
    if step == "phases":
        return [{"kind": "hard_close", "time_zone": zone}]
    if step == "redirects":
        return [{"kind": "phone"}, {"kind": "url"}]
    kinds = list(dict.fromkeys(p.get("kind") for p in draft.data.get("phases") or [] if p.get("kind")))
    locale = draft.data.get("default_locale") or "en"
    return [{"phase_kind": k, "locale": locale, "text": ""} for k in kinds or ["hard_close"]]


def _new_row(step: str, draft: PlanDraft, rows: list[dict]) -> dict:
    """The empty row "Add a phase/redirect/reply" appends. A phase follows the one above it:
    same time zone, the next kind (notice, soft close, hard close, archive)."""
    if step == "phases":
        previous = rows[-1] if rows else {}
        kind = ""
        if previous.get("kind") in PHASE_ORDER:
            later = PHASE_ORDER[PHASE_ORDER.index(previous["kind"]) + 1 :]
            kind = str(later[0]) if later else ""
        zone = str(previous.get("time_zone") or "").strip() or timezone.get_current_timezone_name()
        return {"kind": kind, "time_zone": zone}
    if step == "redirects":
        return {"kind": "url"}
    return {"phase_kind": "", "locale": draft.data.get("default_locale") or "en", "text": ""}


def _formset(step: str, draft: PlanDraft, rows: list[dict], bound: bool):
    cls = {
        "phases": PhaseFormSet,
        "redirects": RedirectFormSet,
        "replies": AutoReplyFormSet,
        "notice": PublicNoticeFormSet,
    }[step]
    kwargs = {}
    if step in ("replies", "notice"):
        kwargs["form_kwargs"] = {
            "channel_kinds": [c.kind for c in _draft_channels(draft)],
            "phase_kinds": {p.get("kind") for p in draft.data.get("phases") or []},
        }
    if step == "notice":
        kwargs["form_kwargs"]["default_locale"] = draft.data.get("default_locale") or "en"
    if bound:
        return cls(_bound(step, rows), prefix=ROWS[step][0], **kwargs)
    return cls(initial=rows, prefix=ROWS[step][0], **kwargs)


def _basics_form(draft: PlanDraft, data=None) -> PlanBasicsForm:
    busy = dict(
        PlanChannel.objects.filter(is_open=True).exclude(plan_id=draft.plan_id).values_list("channel_id", "plan__title")
    )
    initial = {
        "title": draft.data.get("title", ""),
        "channels": draft.data.get("channel_ids") or [],
        "default_locale": draft.data.get("default_locale") or "en",
    }
    return PlanBasicsForm(data, initial=initial, busy=busy)


def _required_replies(draft: PlanDraft, rows: list[dict]) -> list[str]:
    """Soft and hard close need a reply in the default language (submit_plan's rule)."""
    locale = draft.data.get("default_locale") or "en"
    kinds = {p.get("kind") for p in draft.data.get("phases") or []}
    have = {(r["phase_kind"], r["locale"]) for r in rows if (r.get("text") or "").strip()}
    missing = []
    for kind, label in (("soft_close", _("Soft close")), ("hard_close", _("Hard close"))):
        if kind in kinds and (kind, locale) not in have:
            missing.append(
                _("Write the %(phase)s reply in the default language (%(locale)s).")
                % {"phase": label, "locale": locale}
            )
    return missing


def _attach_instants(formset) -> None:
    for form in formset:
        try:
            day = date.fromisoformat(str(form["local_date"].value() or ""))
            at = time.fromisoformat(str(form["local_time"].value() or ""))
        except ValueError:
            form.info = {}
            continue
        form.info = describe_instant(day, at, str(form["time_zone"].value() or "").strip())


def _render(request, draft, step, form, *, status=200, problems=None, landing_form=None, notice_form=None):
    if step == "phases":
        _attach_instants(form)
    if step == "redirects" and landing_form is None:
        landing_form = _landing_form(draft)
    if step == "replies" and notice_form is None:
        notice_form = _formset("notice", draft, _stored_rows(draft, "notice"), bound=False)
    steps = [(key, STEP_LABELS[key]) for key in WIZARD_STEPS]
    context = {
        "draft": draft,
        "plan": draft.plan,
        "step": step,
        "steps": steps,
        "step_index": WIZARD_STEPS.index(step),
        "form": form,
        "zones": zone_choices() if step in ("phases", "redirects") else [],
        "landing_form": landing_form,
        "has_logo": bool(draft.logo_type) or (step == "redirects" and _plan_has_logo(draft)),
        "problems": problems or {},
        "channels": _draft_channels(draft) if step == "replies" else [],
        "placeholders": textrules.PLACEHOLDERS,
        "notice_form": notice_form,
        "public_placeholders": ", ".join("{" + p + "}" for p in textrules.PUBLIC_PLACEHOLDERS),
    }
    return render(request, "channels_app/plan_wizard.html", context, status=status)


def _plan_has_logo(draft: PlanDraft) -> bool:
    return bool(draft.plan_id) and LandingPage.objects.filter(plan_id=draft.plan_id).exclude(logo_type="").exists()


def _step_url(draft: PlanDraft, step: str) -> str:
    base = reverse("plan_edit", args=[draft.plan_id]) if draft.plan_id else reverse("plan_new")
    return f"{base}?step={step}"


def _bounded(view):
    """Refuse (422) a wizard post longer than a draft may be, before anything is kept."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if request.method == "POST" and length > DRAFT_MAX_CHARS * 4:
            message = _("The draft is too long to keep (over %(limit)s characters): shorten it.") % {
                "limit": DRAFT_MAX_CHARS
            }
            if request.resolver_match.url_name == "plan_draft_autosave":
                # The status line says it, where the person is looking.
                return _autosave_refused(request, message, status=FORM_ERROR_STATUS)
            return HttpResponse(message, status=FORM_ERROR_STATUS, content_type="text/plain; charset=utf-8")
        return view(request, *args, **kwargs)

    return wrapped


@require_http_methods(["GET", "POST"])
@login_required
@_bounded
def wizard(request, pk: int | None = None):
    require(request.user, "draft_plan")
    try:
        draft = _draft_for(request, pk)
    except ValidationError as exc:  # the plan is no longer a draft
        raise Http404(exc.messages[0]) from None
    step = (request.POST if request.method == "POST" else request.GET).get("step") or draft.step
    if step not in WIZARD_STEPS:
        step = WIZARD_STEPS[0]

    if request.method == "GET":
        if step == "channels":
            form = _basics_form(draft)
        else:
            rows = _stored_rows(draft, step) or _default_rows(step, draft)
            form = _formset(step, draft, rows, bound=False)
        return _render(request, draft, step, form)

    action = request.POST.get("action", "next")
    index = WIZARD_STEPS.index(step)
    if step == "channels":
        form = _basics_form(draft, request.POST)
        raw = {
            "title": request.POST.get("title", ""),
            "channel_ids": [int(v) for v in request.POST.getlist("channels") if v.isdigit()],
            "default_locale": request.POST.get("default_locale", "en"),
        }
    else:
        typed = _raw_rows(request.POST, step, keep_blank=False)
        raw = {DATA_KEY[step]: _raw_rows(request.POST, step, keep_blank=True)}
        if step == "redirects" and _landing_posted(request):
            raw["landing"] = _landing_raw(request.POST)
        if step == "replies":
            # The public notice's rows: one left empty is dropped (a notice is optional).
            raw["public_notices"] = _raw_rows(request.POST, "notice", keep_blank=True)
        if action == "add_notice" and step == "replies":
            save_plan_draft(actor=request.user, draft=draft, data=raw, step=step)
            notices = raw["public_notices"] + [{"locale": draft.data.get("default_locale") or "en"}]
            replies = _formset(step, draft, raw[DATA_KEY[step]], bound=False)
            return _render(request, draft, step, replies, notice_form=_formset("notice", draft, notices, bound=False))
        if action == "add":
            save_plan_draft(actor=request.user, draft=draft, data=raw, step=step)
            rows = raw[DATA_KEY[step]] + [_new_row(step, draft, raw[DATA_KEY[step]])]
            landing = _landing_form(draft, raw["landing"]) if "landing" in raw else None
            return _render(request, draft, step, _formset(step, draft, rows, bound=False), landing_form=landing)
        form = _formset(step, draft, typed, bound=True)
    landing_form = None
    if step == "redirects" and _landing_posted(request):
        landing_form = LandingPageForm(request.POST, request.FILES, prefix=LANDING_PREFIX)

    if action == "back":
        save_plan_draft(actor=request.user, draft=draft, data=raw, step=WIZARD_STEPS[max(index - 1, 0)])
        return go(request, _step_url(draft, WIZARD_STEPS[max(index - 1, 0)]))

    extra_problems = []
    valid = form.is_valid()
    if landing_form is not None:
        valid = landing_form.is_valid() and valid
    notice_form = None
    if step == "replies":
        notice_form = _formset("notice", draft, raw["public_notices"], bound=True)
        valid = notice_form.is_valid() and valid
    if valid and step == "replies":
        extra_problems = _required_replies(draft, form.rows())
        valid = not extra_problems
    if not valid:
        save_plan_draft(actor=request.user, draft=draft, data=raw)
        return _render(
            request,
            draft,
            step,
            form,
            status=FORM_ERROR_STATUS,
            problems={"__all__": extra_problems},
            landing_form=landing_form,
            notice_form=notice_form,
        )

    clean = form.draft_data() if step == "channels" else {DATA_KEY[step]: form.rows()}
    if landing_form is not None:
        clean["landing"] = _landing_clean(landing_form)
        logo = landing_form.cleaned_data.get("logo")
        if logo:
            set_draft_logo(actor=request.user, draft=draft, logo=logo[0], logo_type=logo[1])
    if notice_form is not None:
        clean["public_notices"] = notice_form.rows()
    if index + 1 < len(WIZARD_STEPS):
        save_plan_draft(actor=request.user, draft=draft, data=clean, step=WIZARD_STEPS[index + 1])
        return go(request, _step_url(draft, WIZARD_STEPS[index + 1]))

    save_plan_draft(actor=request.user, draft=draft, data=clean)
    try:
        plan = finish_plan_draft(actor=request.user, draft=draft)
    except ValidationError as exc:
        problems: dict[str, list[str]] = {}
        for field, msgs in error_dict(exc).items():
            problems.setdefault(ERROR_STEP.get(field, "replies"), []).extend(msgs)
        draft.refresh_from_db()
        return _render(request, draft, step, form, status=FORM_ERROR_STATUS, problems=problems)
    messages.success(request, _("Draft plan saved. Check its impact below, then submit it for approval."))
    return go(request, reverse("plan_detail", args=[plan.pk]))


@require_POST
@login_required
@_bounded
def autosave(request, pk: int):
    """Keep what is typed as it is typed (htmx, debounced)."""
    draft = _own_draft(request, pk)
    step = request.POST.get("step", "")
    if step == "channels":
        data = {
            "title": request.POST.get("title", ""),
            "channel_ids": [int(v) for v in request.POST.getlist("channels") if v.isdigit()],
            "default_locale": request.POST.get("default_locale", "en"),
        }
    elif step in ROWS and step != "notice":
        data = {DATA_KEY[step]: _raw_rows(request.POST, step, keep_blank=True)}
        if step == "redirects" and _landing_posted(request):
            data["landing"] = _landing_raw(request.POST)
        if step == "replies":
            data["public_notices"] = _raw_rows(request.POST, "notice", keep_blank=True)
    else:
        return _autosave_refused(request, _("the wizard has no such step."), status=400)
    try:
        draft = save_plan_draft(actor=request.user, draft=draft, data=data)
    except ValidationError as exc:
        return _autosave_refused(request, " ".join(exc.messages), status=400)
    return render(request, "channels_app/plan_wizard.html#autosave", {"draft": draft})


def _autosave_refused(request, why: str, *, status: int) -> HttpResponse:
    """The status line when a draft was not kept: it says so and why, never the last "Draft saved"
    (static/js/wizard.js swaps this 4xx answer in; htmx alone would leave the old line)."""
    return render(request, "channels_app/plan_wizard.html#autosave", {"error": why}, status=status)


def _row(request) -> int:
    try:
        return int(request.POST.get("row", ""))
    except ValueError:
        raise BadRequest("The request names no row of the wizard.") from None


@require_POST
@login_required
def phase_instant(request, pk: int):
    """A phase row's instant in the viewer's zone and UTC, or why it has none."""
    _own_draft(request, pk)
    i = _row(request)
    try:
        day = date.fromisoformat(request.POST.get(f"phases-{i}-local_date", ""))
        at = time.fromisoformat(request.POST.get(f"phases-{i}-local_time", ""))
    except ValueError:
        info = {}
    else:
        info = describe_instant(day, at, request.POST.get(f"phases-{i}-time_zone", "").strip())
    return render(request, "channels_app/plan_wizard.html#phase-instant", {"info": info, "row": i})


def _sample_values(draft: PlanDraft, channel: Channel | None, locale: str) -> dict[str, str]:
    """What the preview fills placeholders with: the draft's redirects and hard close date (in
    the reply's language, as the outbox will write it), a sample customer."""
    values = {"customer_name": "Alex", "reference": "DSK-7KQ2M9XH", "redirect_url": "", "phone": "", "app_link": ""}
    slot = {"url": "redirect_url", "phone": "phone", "app": "app_link"}
    for row in draft.data.get("redirects") or []:
        key = slot.get(row.get("kind"))
        if key and not values[key]:
            values[key] = row.get("value", "")
    values["redirect_url"] = values["redirect_url"] or values["app_link"] or values["phone"]
    for row in draft.data.get("phases") or []:
        if row.get("kind") == "hard_close" and row.get("local_date"):
            with contextlib.suppress(ValueError):
                values["date"] = date_in_language(date.fromisoformat(row["local_date"]), locale)
    if channel is not None:
        values["channel"] = channel.name
    return values


def reply_previews(draft: PlanDraft, text: str, channels: list[Channel], *, locale: str) -> list[dict]:
    """How a reply looks on each platform of the plan, with the counter the
    services validate against (textrules, longest likely placeholder values)."""
    previews = []
    seen = set()
    for channel in channels:
        # An X channel answers tweets and direct messages, each with its own limit.
        for kind in textrules.LENGTH_RULES.get(channel.kind, (channel.kind,)):
            if kind in seen:
                continue
            seen.add(kind)
            worst = textrules.render(text, textrules.WORST_CASE_SAMPLES)
            length = textrules.length_for(kind, worst)
            limit = textrules.LIMITS.get(kind)
            previews.append(
                {
                    "kind": kind,
                    "label": platform_label(kind),
                    "channel": channel,
                    "text": textrules.render(text, _sample_values(draft, channel, locale)),
                    "length": length,
                    "limit": limit,
                    "over": limit is not None and length > limit,
                    "weighted": kind == "x",
                    "problems": reply_problems(text, kind) if text.strip() else [],
                }
            )
    return previews


@require_POST
@login_required
def reply_preview(request, pk: int):
    draft = _own_draft(request, pk)
    i = _row(request)
    text = request.POST.get(f"replies-{i}-text", "")
    locale = request.POST.get(f"replies-{i}-locale", "")
    if not LOCALE_RE.match(locale):
        locale = draft.data.get("default_locale") or "en"
    # A placeholder the draft cannot fill yet is said before the reply is saved, not rendered
    # as a gap ("closing on . Call or visit .").
    empty = empty_placeholders(text, _sample_values(draft, None, locale))
    context = {
        "row": i,
        "previews": reply_previews(draft, text, _draft_channels(draft), locale=locale),
        "text": text,
        "empty_fields": ", ".join("{" + name + "}" for name in empty),
        "empty_advice": what_fills(empty),
    }
    return render(request, "channels_app/plan_wizard.html#reply-preview", context)


# Which notice fields each platform publishes (the rest it ignores): those it has a limit for.
NOTICE_FIELDS_BY_KIND: dict[str, tuple[str, ...]] = {}
for _kind, _field in textrules.PUBLIC_LIMITS:
    NOTICE_FIELDS_BY_KIND[_kind] = (*NOTICE_FIELDS_BY_KIND.get(_kind, ()), _field)


def notice_previews(draft: PlanDraft, notice: dict[str, str], channels: list[Channel], *, locale: str) -> list[dict]:
    """How one locale of the public notice looks on each platform of the plan, with the
    platform's own limit (X weighted, Messenger's greeting 160, YouTube's description 1,000,
    Discourse's title and body, and its body's "has moved" text) and what is wrong, as the services will check it."""
    previews = []
    seen = set()
    values = _sample_values(draft, None, locale)
    values.pop("customer_name", None)
    values.pop("reference", None)
    for channel in channels:
        if channel.kind in seen or channel.kind not in NOTICE_FIELDS_BY_KIND:
            continue
        seen.add(channel.kind)
        for field in NOTICE_FIELDS_BY_KIND[channel.kind]:
            text = notice.get(field) or ""
            if not text.strip():
                continue
            limits = textrules.PUBLIC_LIMITS[(channel.kind, field)]
            worst = textrules.render(text, textrules.WORST_CASE_SAMPLES).strip()
            length = textrules.public_notice_length(channel.kind, worst)
            previews.append(
                {
                    "kind": channel.kind,
                    "field": field,
                    "label": platform_label(channel.kind),
                    "channel": channel,
                    "text": textrules.render(text, {**values, "channel": channel.name}).strip(),
                    "length": length,
                    "limit": limits[1],
                    "over": length > limits[1] or length < limits[0],
                    "weighted": channel.kind == "x",
                    "problems": public_notice_problems(field, text, [channel.kind]),
                }
            )
    return previews


@require_POST
@login_required
def notice_preview(request, pk: int):
    draft = _own_draft(request, pk)
    i = _row(request)
    notice = {f: request.POST.get(f"notices-{i}-{f}", "") for f in textrules.PUBLIC_FIELDS}
    locale = request.POST.get(f"notices-{i}-locale", "")
    if not LOCALE_RE.match(locale):
        locale = draft.data.get("default_locale") or "en"
    context = {"row": i, "previews": notice_previews(draft, notice, _draft_channels(draft), locale=locale)}
    return render(request, "channels_app/plan_wizard.html#notice-preview", context)


@require_http_methods(["GET", "POST"])
@login_required
def discard(request, pk: int):
    """Discarding asks first: the page says what would be lost; only its confirmed POST discards."""
    draft = _own_draft(request, pk)
    if request.method == "GET" or request.POST.get("confirm") != "yes":
        data = draft.data
        context = {
            "draft": draft,
            "plan": draft.plan,
            "title": data.get("title") or "",
            "counts": {
                "channels": len(data.get("channel_ids") or []),
                "phases": len(data.get("phases") or []),
                "redirects": len(data.get("redirects") or []),
                "replies": len(data.get("auto_replies") or []),
            },
            "back": _step_url(draft, draft.step if draft.step in WIZARD_STEPS else WIZARD_STEPS[0]),
        }
        return render(request, "channels_app/plan_draft_discard.html", context)
    plan_id = draft.plan_id
    discard_plan_draft(actor=request.user, draft=draft)
    # Editing a plan: the plan stays as it was; a new plan's draft is gone as a whole.
    messages.info(request, _("Your unsaved changes were discarded.") if plan_id else _("The draft was discarded."))
    return go(request, reverse("plan_detail", args=[plan_id]) if plan_id else reverse("home"))
