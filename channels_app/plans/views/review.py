"""Submitting, cancelling, and the four-eyes approval queue."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from channels_app.core.permissions import require
from channels_app.core.views import FORM_ERROR_STATUS, error_messages, go
from channels_app.models import Channel, PlanState, SunsetPlan
from channels_app.plans.forms import ApproveForm, CancelForm, SendBackForm
from channels_app.plans.selectors import approvals_queue, diff_snapshots, plan_for_page, plan_impact, review_baseline
from channels_app.plans.services.plans import (
    approve_plan,
    cancel_plan,
    copy_plan_into_draft,
    plan_snapshot,
    reject_plan,
    submit_plan,
)
from channels_app.plans.services.preflight import run_preflight
from channels_app.plans.views.detail import render_plan_page


def _plan(pk: int) -> SunsetPlan:
    try:
        return plan_for_page(pk)
    except SunsetPlan.DoesNotExist:
        raise Http404(_("No such plan.")) from None


@require_POST
@login_required
def plan_submit(request, pk: int):
    require(request.user, "submit_plan")
    plan = _plan(pk)
    try:
        submit_plan(actor=request.user, plan=plan)
    except ValidationError as exc:
        # Refused (a forced POST past the disabled button, or something changed since the page
        # was drawn): the plan page again, with why, and nothing changed.
        return render_plan_page(
            request,
            plan_for_page(plan.pk),
            preflight=getattr(exc, "preflight", None),
            problems=error_messages(exc),
            status=FORM_ERROR_STATUS,
        )
    messages.success(request, _("Submitted for approval: a second person must approve it now."))
    return go(request, reverse("plan_detail", args=[plan.pk]))


@require_POST
@login_required
def plan_cancel(request, pk: int):
    require(request.user, "cancel_plan")
    plan = _plan(pk)
    form = CancelForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        cancel_plan(actor=request.user, plan=plan, reason=reason)
    except ValidationError as exc:
        for text in error_messages(exc):
            messages.error(request, text)
    else:
        messages.success(request, _("The plan was cancelled; nothing of it will run."))
    return go(request, reverse("plan_detail", args=[plan.pk]))


@require_GET
@login_required
def approvals(request):
    require(request.user, "approve_plan")
    page = Paginator(approvals_queue(), 25).get_page(request.GET.get("page"))
    return render(request, "channels_app/approvals.html", {"page": page})


def _review_context(request, plan: SunsetPlan, preflight=None) -> dict:
    kind, baseline, baseline_at = review_baseline(plan)
    current = plan_snapshot(plan)
    changes = []
    if baseline is not None:
        ids = set(baseline.get("channels") or []) | set(current.get("channels") or [])
        names = dict(Channel.objects.filter(pk__in=ids).values_list("pk", "name"))
        changes = diff_snapshots(baseline, current, names)
    return {
        "plan": plan,
        "impact": plan_impact(plan),
        "baseline_kind": kind,
        "baseline_at": baseline_at,
        "changes": changes,
        "is_author": plan.author_id == request.user.pk,
        "pending": plan.state == PlanState.PENDING_APPROVAL,
        # Approve is disabled, with the reason, while this fails: the refusal comes before the click.
        "preflight": preflight
        or (run_preflight(plan, cached=True) if plan.state == PlanState.PENDING_APPROVAL else None),
    }


@require_GET
@login_required
def approval_review(request, pk: int):
    require(request.user, "approve_plan")
    plan = _plan(pk)
    context = _review_context(request, plan) | {"approve_form": ApproveForm(), "send_back_form": SendBackForm()}
    return render(request, "channels_app/approval_review.html", context)


def _decide(request, pk: int, *, approve: bool):
    require(request.user, "approve_plan")
    plan = _plan(pk)
    if plan.author_id == request.user.pk:
        raise PermissionDenied(_("The author of a plan cannot approve it: a second person must."))
    approve_form = ApproveForm(request.POST if approve else None)
    send_back_form = SendBackForm(None if approve else request.POST)
    form = approve_form if approve else send_back_form
    problems: list[str] = []
    refused_preflight = None
    if form.is_valid():
        try:
            if approve:
                approve_plan(actor=request.user, plan=plan, comment=form.cleaned_data["comment"])
            else:
                reject_plan(actor=request.user, plan=plan, comment=form.cleaned_data["comment"])
        except (ValidationError, PermissionDenied) as exc:
            problems = error_messages(exc)
            refused_preflight = getattr(exc, "preflight", None)
        else:
            if approve:
                messages.success(request, _("Approved: the plan is scheduled and will run at its instants."))
            else:
                messages.success(request, _("Sent back to the author with your comment."))
            return go(request, reverse("approvals"))
    context = _review_context(request, plan, refused_preflight) | {
        "approve_form": approve_form,
        "send_back_form": send_back_form,
        "problems": problems,
    }
    return render(request, "channels_app/approval_review.html", context, status=FORM_ERROR_STATUS)


@require_POST
@login_required
def plan_approve(request, pk: int):
    return _decide(request, pk, approve=True)


@require_POST
@login_required
def plan_send_back(request, pk: int):
    return _decide(request, pk, approve=False)


@require_POST
@login_required
def plan_copy(request, pk: int):
    """Copy a plan that no longer runs (rolled back, cancelled, failed) into a new draft."""
    require(request.user, "draft_plan")
    plan = _plan(pk)
    try:
        copy = copy_plan_into_draft(actor=request.user, plan=plan)
    except ValidationError as exc:
        for text in error_messages(exc):
            messages.error(request, text)
        return go(request, reverse("plan_detail", args=[plan.pk]))
    messages.success(request, _("A new draft was made from the plan; check its dates, then submit it."))
    return go(request, reverse("plan_detail", args=[copy.pk]))
