"""The audit log, one event's before/after, and a plan's History."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from channels_app.audit.forms import AuditFilterForm
from channels_app.audit.selectors import audit_events
from channels_app.core.errors import NotFound
from channels_app.core.paging import PAGE_SIZE, KeysetForm, keyset_page
from channels_app.core.permissions import require
from channels_app.core.views import FORM_ERROR_STATUS
from channels_app.models import AuditEvent, SunsetPlan


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
        events = audit_events(obj=d["object"], actor=d["actor"], action=d["action"], since=since, until=until)
    elif valid:
        events = audit_events()
    else:
        events = audit_events().none()
    # Newest first, resumed from an id: the trail only grows, so no count and no OFFSET.
    where = cursor.cleaned_data if valid else {}
    page = keyset_page(events, size=PAGE_SIZE, before=where.get("before"), after=where.get("after"))
    query = request.GET.copy()
    for name in ("page", "before", "after"):
        query.pop(name, None)
    return render(
        request,
        "channels_app/audit_log.html",
        {"form": form, "cursor": cursor, "page": page, "query": query.urlencode()},
        status=200 if valid else FORM_ERROR_STATUS,
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


@require_GET
@login_required
def plan_history(request, pk: int):
    """What happened to one plan, its phases and its runs, newest first: for every role that may
    see the plan (an HR coordinator or a viewer follows the plan they work on), without the
    before/after snapshots, which stay with the roles that read the audit log."""
    require(request.user, "view")
    plan = SunsetPlan.objects.filter(pk=pk).only("pk", "title").first()
    if plan is None:
        raise NotFound(_("No such plan."))
    cursor = KeysetForm(request.GET)
    valid = cursor.is_valid()
    where = cursor.cleaned_data if valid else {}
    events = audit_events(obj=f"sunsetplan:{plan.pk}") if valid else audit_events().none()
    page = keyset_page(events, size=PAGE_SIZE, before=where.get("before"), after=where.get("after"))
    return render(
        request,
        "channels_app/plan_history.html",
        {"plan": plan, "cursor": cursor, "page": page},
        status=200 if valid else FORM_ERROR_STATUS,
    )
