"""The landing page at the tracked link (public), its choices and contact form, and a plan's
hand-off and funnel pages (a plan's branding page is the plans feature's: plans/views/landing.py)."""

import io
import json
import re
import time
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from channels_app.core import metrics
from channels_app.core.charts import line_chart
from channels_app.core.client_ip import client_ip
from channels_app.core.csrf import get_token
from channels_app.core.csvcells import DefusedWriter
from channels_app.core.permissions import can, require
from channels_app.core.secrets import channel_secret
from channels_app.core.views import FORM_ERROR_STATUS, error_dict
from channels_app.handoff import selectors
from channels_app.handoff.adapters.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from channels_app.handoff.forms import ContactForm, HandoffDestinationForm
from channels_app.handoff.selectors import (
    CONTACT_FORM,
    FUNNEL_BREAKDOWNS,
    FUNNEL_DEFAULT_RANGE,
    FUNNEL_RANGES,
    FUNNEL_STEPS,
    SERIES_STEPS,
    FunnelRow,
    Landing,
    LandingRows,
    landing_for,
    landing_rows_for,
    logo_of,
    visitor_key,
)
from channels_app.handoff.services.delivery import (
    record_arrival,
    remove_handoff_destination,
    requeue_handoff_delivery,
    set_handoff_destination,
)
from channels_app.handoff.services.landing import open_landing, record_choice, request_handoff
from channels_app.models import (
    Conversation,
    HandoffDelivery,
    HandoffDestination,
    LandingPage,
    RedirectTarget,
    SunsetPlan,
)

# Schemes a choice may send a browser to: the web, the phone, and an app's own scheme; never one
# that runs or reads something in the page's place.
REFUSED_SCHEMES = {"javascript", "data", "vbscript", "file", "blob", "about"}
LANDING_LANGUAGES = {code for code, _name in settings.LANGUAGES}


class _ChoiceRedirect(HttpResponseRedirect):
    def __init__(self, url: str):
        scheme = urlsplit(url).scheme.lower()
        self.allowed_schemes = ["http", "https", "tel"] + ([scheme] if scheme and scheme not in REFUSED_SCHEMES else [])
        super().__init__(url)


def _within_visit_rate(request) -> bool:
    """Whether this client may still be recorded this minute (per process: a bound, not a tally)."""
    key = f"dusk:landings:{client_ip(request)}:{int(time.time() // 60)}"
    # One cache operation for all but the minute's first request of an address (with Redis, one
    # round trip on the busiest public page instead of two).
    try:
        return cache.incr(key) <= settings.DUSK_TRACKED_LINK_RATE
    except ValueError:  # the minute's first (or the key was evicted)
        if cache.add(key, 1, timeout=120):
            return True
    try:
        return cache.incr(key) <= settings.DUSK_TRACKED_LINK_RATE
    except ValueError:  # evicted between add and incr
        return True


def _language(landing: Landing | None) -> str:
    """The conversation's language when the page speaks it, else what the browser asked for
    (LocaleMiddleware already chose it from Accept-Language)."""
    return _language_of(landing.conversation.locale if landing is not None else "")


def _language_of(locale: str) -> str:
    locale = (locale or "").split("-")[0].lower()
    if locale in LANDING_LANGUAGES:
        return locale
    return translation.get_language() or settings.LANGUAGE_CODE


def _render_landing(request, landing: Landing, *, form: ContactForm | None = None, status: int = 200, sent=False):
    language = _language(landing)
    with translation.override(language):
        response = render(
            request,
            "channels_app/landing.html",
            {
                "landing": landing,
                "reference": landing.conversation.reference,
                "form": form or ContactForm(),
                "sent": sent,
                "language": language,
            },
            status=status,
        )
    return _landing_headers(response, language, landing.form_origins)


def _landing_headers(response: HttpResponse, language: str, form_origins: list[str]) -> HttpResponse:
    response["Content-Language"] = language
    # Choices that take the reference as a form field submit to their targets: the page's
    # form-action policy names those origins (web/middleware.py adds them to 'self').
    response.csp_form_action = form_origins
    # The reference is in the URL: targets elsewhere are not told it by the browser. Not
    # "no-referrer": Chromium then sends "Origin: null" with the contact form and CSRF refuses it.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


# The page as it first shows (empty form, nothing sent) is the same for every reference of a plan
# but for the reference and the CSRF token: each web process keeps it, rendered with these two
# slots, with its form-action origins, under everything it shows (language, and
# `LandingRows.shown`: platform, branding, targets, today's date for the phone hours), read by
# the page's one query on every request, so an edit shows at once. A request that finds it
# builds no instance and renders no template. References are "DSK-" and letters and digits:
# nothing to escape, in the text or in a URL.
REFERENCE_SLOT = "QQREFERENCESLOTQQ"
CSRF_SLOT = "QQCSRFSLOTQQ"
SAFE_REFERENCE = re.compile(r"[A-Za-z0-9-]+")
_BLANK_PAGES: dict[tuple, tuple[str, list[str]]] = {}
BLANK_PAGES_MAX = 256


def _blank_page(found: LandingRows, language: str) -> tuple[str, list[str]]:
    """The page as it first shows, with its slots, and its form-action origins."""
    key = (language, found.shown())
    page = _BLANK_PAGES.get(key)
    if page is None:
        landing = found.landing
        with translation.override(language):
            html = render_to_string(
                "channels_app/landing.html",
                {
                    "landing": landing,
                    "reference": REFERENCE_SLOT,
                    "form": ContactForm(),
                    "sent": False,
                    "language": language,
                    "csrf_token": CSRF_SLOT,
                },
            )
        if len(_BLANK_PAGES) >= BLANK_PAGES_MAX:
            _BLANK_PAGES.clear()
        page = _BLANK_PAGES[key] = (html, landing.form_origins)
    return page


def _missing(request, reference: str):
    response = render(request, "channels_app/landing_missing.html", {"reference": reference[:16]}, status=404)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_http_methods(["GET", "HEAD"])
def landing(request, reference: str):
    """Public: the link in auto-replies and hand-off notices. Recorded (people apart from
    robots), then the page that tells the customer where support went."""
    if _within_visit_rate(request):
        agent = request.headers.get("User-Agent", "")[:512]
        found = open_landing(
            reference=reference,
            visitor=visitor_key(client_ip=client_ip(request), user_agent=agent),
            user_agent=agent,
            method=request.method,
        )
    else:
        found = landing_rows_for(reference)
    if found is None:
        return _missing(request, reference)
    sent = request.GET.get("sent") == "1"
    if sent or not SAFE_REFERENCE.fullmatch(reference):
        return _render_landing(request, found.landing, sent=sent)
    language = _language_of(found.locale)
    html, form_origins = _blank_page(found, language)
    html = html.replace(REFERENCE_SLOT, reference).replace(CSRF_SLOT, get_token(request))
    return _landing_headers(HttpResponse(html), language, form_origins)


@require_http_methods(["GET", "POST"])
def landing_choose(request, reference: str, position: int):
    """Public: the customer chose a destination. Recorded, then on to it. A POST (the beacon
    landing.js sends when a choice's form submits straight to its target) is recorded and
    answered 204."""
    page = landing_for(reference)
    choice = page.choice_at(position) if page else None
    if choice is None:
        return _missing(request, reference)
    if _within_visit_rate(request):
        record_choice(
            conversation=page.conversation, target=choice.target, user_agent=request.headers.get("User-Agent", "")
        )
    if request.method == "POST":
        return HttpResponse(status=204)
    return _ChoiceRedirect(choice.href)


@require_POST
def landing_contact(request, reference: str):
    """Public: the contact form on the landing page. Nothing is stored unless all of it is valid."""
    page = landing_for(reference)
    if page is None:
        return _missing(request, reference)
    form = ContactForm(request.POST)
    if form.is_valid():
        try:
            request_handoff(
                conversation=page.conversation,
                plan=page.plan,
                name=form.cleaned_data["name"],
                email=form.cleaned_data["email"],
                message=form.cleaned_data["message"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect(reverse("tracked_redirect", args=[reference]) + "?sent=1#contact")
    return _render_landing(request, page, form=form, status=FORM_ERROR_STATUS)


@require_GET
@cache_control(public=True, max_age=86400)
def landing_brand_css(request, plan_id: int, version: int):
    """Public: the plan's accent colour as a stylesheet, so the page needs no inline style. The
    version in the URL changes with every edit; old URLs answer the current colour."""
    page = LandingPage.objects.filter(plan_id=plan_id).only("accent").first()
    accent = page.accent if page else "#3b5bdb"
    css = f":root {{ --landing-accent: {accent}; }}\n"
    return HttpResponse(css, content_type="text/css; charset=utf-8")


@require_GET
@cache_control(public=True, max_age=86400)
def landing_logo(request, plan_id: int, version: int):
    """Public: the plan's uploaded logo, served by the portal (no third-party request)."""
    page = logo_of(plan_id)
    if page is None:
        raise Http404(_("No logo."))
    response = HttpResponse(bytes(page.logo), content_type=page.logo_type)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_http_methods(["GET", "POST"])
@login_required
def plan_handoffs(request, plan_id: int):
    """Where a plan's contact requests are handed off, and how that went: destinations (managers
    set them), failed hand-offs to send again, the latest ones."""
    require(request.user, "view")
    plan = get_object_or_404(SunsetPlan, pk=plan_id)
    targets = list(RedirectTarget.objects.filter(plan=plan).order_by("position"))
    form = HandoffDestinationForm(targets=targets)
    status = 200
    if request.method == "POST":
        require(request.user, "draft_plan")
        form = HandoffDestinationForm(request.POST, targets=targets)
        if form.is_valid():
            try:
                set_handoff_destination(actor=request.user, plan=plan, **form.cleaned_data)
            except ValidationError as exc:
                for field, errors in error_dict(exc).items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                messages.success(request, _("The hand-off destination was saved."))
                return redirect("plan_handoffs", plan_id=plan.pk)
        status = FORM_ERROR_STATUS
    return render(
        request,
        "channels_app/plan_handoffs.html",
        {
            "plan": plan,
            "handoffs": selectors.plan_handoffs(plan.pk),
            "targets": {t.position: t for t in targets},
            "form": form,
            "may_edit": can(request.user, "draft_plan"),
            "may_requeue": can(request.user, "manage_channels"),
            "may_read_requests": can(request.user, "read_contact_requests"),
        },
        status=status,
    )


CONTACT_REQUESTS_PER_PAGE = 25


@require_GET
@login_required
def plan_contact_requests(request, plan_id: int):
    """What customers wrote on the plan's landing page, newest first, with where each was handed
    off: with no destination this page is where the team reads them and answers by email."""
    require(request.user, "read_contact_requests")
    plan = get_object_or_404(SunsetPlan, pk=plan_id)
    page = Paginator(selectors.plan_contact_requests(plan.pk), CONTACT_REQUESTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "channels_app/plan_contact_requests.html", {"plan": plan, "page": page})


@require_POST
@login_required
def plan_handoff_destination_remove(request, plan_id: int, destination_id: int):
    require(request.user, "draft_plan")
    destination = get_object_or_404(HandoffDestination, pk=destination_id, plan_id=plan_id)
    try:
        remove_handoff_destination(actor=request.user, destination=destination)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The hand-off destination was removed."))
    return redirect("plan_handoffs", plan_id=plan_id)


@require_POST
@login_required
def handoff_delivery_requeue(request, plan_id: int, delivery_id: int):
    require(request.user, "manage_channels")
    delivery = get_object_or_404(
        HandoffDelivery.objects.select_related("destination", "request"), pk=delivery_id, request__plan_id=plan_id
    )
    try:
        requeue_handoff_delivery(actor=request.user, delivery=delivery)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The hand-off was queued again."))
    return redirect("plan_handoffs", plan_id=plan_id)


# Seconds an arrival report's timestamp may differ from now: older ones are replays.
ARRIVAL_TOLERANCE = 300


def _json_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@csrf_exempt
@require_POST
def handoff_arrival(request, destination_id: int):
    """Signed, from the destination: {"reference": "DSK-…", "status": "arrived" | "solved"}, with
    X-Dusk-Timestamp and X-Dusk-Signature as Dusk signs its own webhooks. Unsigned: 401; a wrong
    signature or a stale timestamp: 403; nothing is stored unless every check passed. Every
    report is counted for /metrics by what it came to."""
    status = 500  # unless an answer comes back: the exception becomes the 500 page
    try:
        response = _arrival(request, destination_id)
        status = response.status_code
        return response
    finally:
        metrics.count(metrics.HANDOFF_ARRIVALS, metrics.arrival_outcome(status))


def _arrival(request, destination_id: int) -> JsonResponse:
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not timestamp or not given:
        return _json_error(401, "X-Dusk-Timestamp and X-Dusk-Signature are required.")
    destination = HandoffDestination.objects.filter(pk=destination_id).first()
    secret = channel_secret(destination.arrival_secret_env) if destination else None
    # The same answer for an unknown destination, one taking no reports and a bad signature.
    if secret is None or not verify(
        secret, timestamp, request.body, given, now=time.time(), tolerance=ARRIVAL_TOLERANCE
    ):
        return _json_error(403, "Bad signature, or a timestamp more than 5 minutes away.")
    try:
        body = json.loads(request.body)
        reference, status = str(body["reference"]), str(body["status"])
    except (ValueError, KeyError, TypeError):
        return _json_error(400, 'The body must be JSON: {"reference": "DSK-…", "status": "arrived" | "solved"}.')
    try:
        created = record_arrival(destination=destination, reference=reference, status=status)
    except ValidationError as exc:
        return _json_error(400, " ".join(exc.messages))
    except Conversation.DoesNotExist:
        return _json_error(404, "No conversation of this plan has that reference.")
    return JsonResponse({"reference": reference, "status": status, "recorded": created})


FUNNEL_LABELS = {
    "redirected": gettext_lazy("Redirected"),
    "notified": pgettext_lazy("funnel", "Notified"),
    "landed": gettext_lazy("Landed (people)"),
    "chose": gettext_lazy("Chose a destination"),
    "arrived": gettext_lazy("Arrived"),
    "solved": gettext_lazy("Solved"),
}


BREAKDOWN_LABELS = {
    "channel": gettext_lazy("Channel"),
    "destination": gettext_lazy("Destination chosen first"),
    "language": gettext_lazy("Language"),
}
BREAKDOWN_TABS = {
    "channel": gettext_lazy("By channel"),
    "destination": gettext_lazy("By destination"),
    "language": gettext_lazy("By language"),
}
SERIES_LABELS = {
    "landed": gettext_lazy("Landed (people)"),
    "chose": gettext_lazy("Chose a destination"),
    "arrived": gettext_lazy("Arrived"),
    "solved": gettext_lazy("Solved"),
}
RANGE_LABELS = {
    "2d": gettext_lazy("2 days, per hour"),
    "7d": gettext_lazy("7 days"),
    "30d": gettext_lazy("30 days"),
    "90d": gettext_lazy("90 days"),
    "all": gettext_lazy("Since the start"),
}


def _funnel_choices(request) -> tuple[str, str] | HttpResponse:
    """The page's breakdown (`by`) and the chart's range (`range`), or a 400 naming the values
    allowed: the links only ever send these, anything else is a hand-typed URL."""
    by = request.GET.get("by", FUNNEL_BREAKDOWNS[0])
    span = request.GET.get("range", FUNNEL_DEFAULT_RANGE)
    if by not in FUNNEL_BREAKDOWNS:
        return HttpResponseBadRequest(
            _("Unknown breakdown: by must be one of %(allowed)s.") % {"allowed": ", ".join(FUNNEL_BREAKDOWNS)}
        )
    if span not in FUNNEL_RANGES:
        return HttpResponseBadRequest(
            _("Unknown range: range must be one of %(allowed)s.") % {"allowed": ", ".join(FUNNEL_RANGES)}
        )
    return by, span


def _group_label(by: str, row: FunnelRow) -> str:
    if by == "destination" and row.key is None:
        return _("None chosen")
    if by == "destination" and row.key == CONTACT_FORM:
        return _("Contact form (landing page)")
    if by == "language":
        if not row.key:
            return _("Unknown")
        try:
            return f"{translation.get_language_info(row.key)['name_translated']} ({row.key})"
        except KeyError:
            return row.key
    return row.label


def _cells(steps) -> list[dict]:
    return [
        {
            "step": step,
            "percent": round(100 * step.share_of_first) if step.share_of_first is not None else 0,
            "lost_percent": round(100 * step.lost_share) if step.lost_share is not None else None,
        }
        for step in steps
    ]


@require_GET
@login_required
def plan_funnel(request, plan_id: int):
    """Where the plan's customers went, step by step, with the share lost at each; broken down by
    channel, destination or language, and a chart of the days (or hours) in the viewer's zone."""
    require(request.user, "view")
    plan = get_object_or_404(SunsetPlan, pk=plan_id)
    chosen = _funnel_choices(request)
    if isinstance(chosen, HttpResponse):
        return chosen
    by, span = chosen
    report = selectors.plan_funnel_report(plan.pk)
    series = selectors.plan_funnel_series(plan.pk, zone=timezone.get_current_timezone(), days=FUNNEL_RANGES[span])
    rows = [dict(cell, label=FUNNEL_LABELS[cell["step"].key]) for cell in _cells(report.steps)]
    base = reverse("plan_funnel", args=[plan.pk])
    context = {
        "plan": plan,
        "rows": rows,
        "by": by,
        "by_label": BREAKDOWN_LABELS[by],
        "span": span,
        "step_labels": [FUNNEL_LABELS[key] for key in FUNNEL_STEPS],
        "breakdown": [{"label": _group_label(by, row), "cells": _cells(row.steps)} for row in report.breakdown(by)],
        "breakdown_tabs": [
            {"label": label, "url": f"{base}?{urlencode({'by': key, 'range': span})}", "current": key == by}
            for key, label in BREAKDOWN_TABS.items()
        ],
        "range_tabs": [
            {"label": label, "url": f"{base}?{urlencode({'by': by, 'range': key})}", "current": key == span}
            for key, label in RANGE_LABELS.items()
        ],
        "csv_url": f"{reverse('plan_funnel_csv', args=[plan.pk])}?{urlencode({'range': span})}",
        "series": series,
        "series_labels": [(key, SERIES_LABELS[key]) for key in SERIES_STEPS],
        "chart": line_chart(
            [p.at for p in series.points], [(key, [p.count(key) for p in series.points]) for key in SERIES_STEPS]
        ),
    }
    return render(request, "channels_app/plan_funnel.html", context)


@require_GET
@login_required
def plan_funnel_csv(request, plan_id: int):
    """The funnel, its breakdowns and its series as one long table: one row per (breakdown, group,
    step), then one per (hour or day, step), UTF-8 with a BOM so spreadsheets read the accents."""
    require(request.user, "view")
    plan = get_object_or_404(SunsetPlan, pk=plan_id)
    chosen = _funnel_choices(request)
    if isinstance(chosen, HttpResponse):
        return chosen
    _by, span = chosen
    report = selectors.plan_funnel_report(plan.pk)
    series = selectors.plan_funnel_series(plan.pk, zone=timezone.get_current_timezone(), days=FUNNEL_RANGES[span])
    out = io.StringIO()
    writer = DefusedWriter(out)
    writer.writerow(
        ["plan", "step", "customers", "share_of_redirected", "lost", "lost_share_of_previous", "breakdown", "group"]
    )
    groups = [("plan", "", report.steps)] + [
        (by, _csv_group(by, row), row.steps) for by in FUNNEL_BREAKDOWNS for row in report.breakdown(by)
    ]
    for by, group, steps in groups:
        for step in steps:
            writer.writerow(
                [
                    plan.title,
                    step.key,
                    step.count,
                    "" if step.share_of_first is None else f"{step.share_of_first:.4f}",
                    step.lost,
                    "" if step.lost_share is None else f"{step.lost_share:.4f}",
                    by,
                    group,
                ]
            )
    for point in series.points:
        for key in SERIES_STEPS:
            writer.writerow([plan.title, key, point.count(key), "", "", "", series.unit, point.at.isoformat()])
    response = HttpResponse("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="plan-{plan.pk}-funnel.csv"'
    return response


def _csv_group(by: str, row: FunnelRow) -> str:
    """A group as the CSV names it: the channel's name, the target's position and label, the
    locale code ("contact form", and "none" and "unknown" for the empty ones)."""
    if by == "destination":
        if row.key is None:
            return "none"
        return "contact form" if row.key == CONTACT_FORM else f"{row.key}: {row.label}"
    if by == "language":
        return row.key or "unknown"
    return row.label
