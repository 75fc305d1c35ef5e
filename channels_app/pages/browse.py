"""Read-mostly pages: dashboard, channels, plan detail, runs, audit log, settings."""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import pagequeries as q
from .. import services
from ..forms import AuditFilterForm, ChannelFilterForm, KeysetForm, ProfileForm, zone_choices
from ..middleware import SESSION_TZ_KEY
from ..models import AuditEvent, Channel, CutoverRun, PlanState, RunState, SunsetPlan, UserProfile
from ..permissions import require
from ..querysets import plan_counts_by_state
from .common import error_dict, go, may

log = logging.getLogger("dusk.csp")
PAGE_SIZE = 25


@require_GET
@login_required
def dashboard(request):
    require(request.user, "view")
    now = timezone.now()
    state = request.GET.get("state", "")
    if state and state not in PlanState.values:
        state = ""
    counts = plan_counts_by_state()
    # The dashboard is a summary: ten plans a page (all of them, page by page). The counts
    # by state already say how many there are: the paginator need not count again.
    paginator = Paginator(q.plans_for_list(state=state), 10)
    paginator.count = counts.get(state, 0) if state else sum(counts.values())
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "page": page,
        "state": state,
        "counts": [(s, label, counts.get(s, 0)) for s, label in PlanState.choices],
        "channel_counts": q.channel_state_counts(),
        "recent_channels": list(Channel.objects.exclude(state="active").order_by("-updated_at", "id")[:8]),
        "timeline": q.timeline(now=now),
        "active_runs": list(
            CutoverRun.objects.filter(state__in=[RunState.QUEUED, RunState.RUNNING])
            .select_related("plan", "phase")
            .only("state", "plan__title", "phase__kind")  # not the rollback snapshot: it can be large
            .order_by("queued_at")[:10]
        ),
        "action": q.needs_action(request.user, may(request.user)),
        "now": now,
    }
    return render(request, "channels_app/dashboard.html", context)


@require_GET
@login_required
def channel_list(request):
    require(request.user, "view")
    form = ChannelFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    channels = q.channels_for_list(q=filters.get("q", ""), kind=filters.get("kind", ""), state=filters.get("state", ""))
    page = Paginator(channels, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "channels_app/channel_list.html",
        {"form": form, "page": page, "query": query.urlencode()},
        status=200 if form.is_bound is False or form.is_valid() else 400,
    )


@require_GET
@login_required
def channel_detail(request, pk: int):
    require(request.user, "view")
    try:
        channel = q.channel_detail(pk)
    except Channel.DoesNotExist:
        raise Http404(_("No such channel.")) from None
    context = {
        "channel": channel,
        "plans": q.channel_plans(channel),
        "teams": q.channel_teams(channel),
        "volume": q.inbound_volume(channel.pk),
    }
    return render(request, "channels_app/channel_detail.html", context)


@require_GET
@login_required
def channel_volume(request, pk: int):
    """The live inbound-volume panel, polled by htmx."""
    require(request.user, "view")
    channel = Channel.objects.filter(pk=pk).first()
    if channel is None:
        raise Http404(_("No such channel."))
    return render(
        request,
        "channels_app/channel_detail.html#volume",
        {"channel": channel, "volume": q.inbound_volume(channel.pk)},
    )


@require_GET
@login_required
def plan_detail(request, pk: int):
    require(request.user, "view")
    try:
        plan = q.plan_for_page(pk)
    except SunsetPlan.DoesNotExist:
        raise Http404(_("No such plan.")) from None
    context = {
        "plan": plan,
        "impact": q.plan_impact(plan),
        "is_author": plan.author_id == request.user.pk,
    }
    return render(request, "channels_app/plan_detail.html", context)


@require_GET
@login_required
def run_detail(request, pk: int):
    require(request.user, "view")
    try:
        run = q.run_for_page(pk)
    except CutoverRun.DoesNotExist:
        raise Http404(_("No such run.")) from None
    now = timezone.now()
    context = {
        "run": run,
        "steps": q.run_steps(run, now=now),
        "elapsed": ((run.finished_at or now) - run.started_at).total_seconds() if run.started_at else None,
        "live": run.state in (RunState.QUEUED, RunState.RUNNING),
    }
    template = "channels_app/run_detail.html"
    if request.htmx:
        template += "#progress"
    return render(request, template, context)


@require_GET
@login_required
def audit_log(request):
    require(request.user, "view_audit")
    filtering = any(name in request.GET for name in AuditFilterForm.base_fields)
    form = AuditFilterForm(request.GET if filtering else None)
    cursor = KeysetForm(request.GET)
    valid = (form.is_valid() if form.is_bound else True) and cursor.is_valid()
    if valid and form.is_bound:
        since, until = form.bounds()
        d = form.cleaned_data
        events = q.audit_events(obj=d["object"], actor=d["actor"], action=d["action"], since=since, until=until)
    elif valid:
        events = q.audit_events()
    else:
        events = q.audit_events().none()
    # Newest first, resumed from an id: the trail only grows, so no count and no OFFSET.
    where = cursor.cleaned_data if valid else {}
    page = q.keyset_page(events, size=PAGE_SIZE, before=where.get("before"), after=where.get("after"))
    query = request.GET.copy()
    for name in ("page", "before", "after"):
        query.pop(name, None)
    return render(
        request,
        "channels_app/audit_log.html",
        {"form": form, "cursor": cursor, "page": page, "query": query.urlencode()},
        status=200 if valid else 400,
    )


@require_GET
@login_required
def audit_event(request, pk: int):
    """One event with its before/after; htmx asks for just the before/after."""
    require(request.user, "view_audit")
    event = AuditEvent.objects.filter(pk=pk).first()
    if event is None:
        raise Http404(_("No such event."))
    template = "channels_app/audit_event.html"
    if request.htmx:
        template += "#changes"
    return render(request, template, {"event": event})


@require_http_methods(["GET", "POST"])
@login_required
def profile(request):
    require(request.user, "view")
    current = UserProfile.objects.filter(user=request.user).values_list("time_zone", flat=True).first() or "UTC"
    form = ProfileForm(request.POST or None, initial={"time_zone": current})
    if request.method == "POST":
        if form.is_valid():
            try:
                services.update_profile(actor=request.user, time_zone=form.cleaned_data["time_zone"])
            except ValidationError as exc:
                for field, problems in error_dict(exc).items():
                    for problem in problems:
                        form.add_error(field if field in form.fields else None, problem)
            else:
                request.session[SESSION_TZ_KEY] = form.cleaned_data["time_zone"]
                messages.success(
                    request, _("Your time zone is now %(zone)s.") % {"zone": form.cleaned_data["time_zone"]}
                )
                return go(request, request.path)
        status = 422
    else:
        status = 200
    return render(request, "channels_app/profile.html", {"form": form, "zones": zone_choices()}, status=status)


@csrf_exempt  # browsers send reports without a token; the body is only logged
@require_POST
def csp_report(request):
    body = request.body[:8192].decode("utf-8", "replace")
    log.warning("CSP violation reported: %s", body)
    return HttpResponse(status=204)
