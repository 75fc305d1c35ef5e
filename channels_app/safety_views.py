"""Pages for walking through the door safely: a phase's dry run, a run's rollback."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from . import services
from .models import CutoverRun, Phase
from .permissions import can, require
from .querysets import dry_run
from .services.rollback import rollback_deadline

PAGE_SIZE = 50


def _phase_for(user, plan_id: int, phase_id: int) -> Phase:
    if not can(user, "view"):
        raise Http404  # no role: the object does not exist for them
    return get_object_or_404(
        Phase.objects.select_related("plan__author", "plan__approved_by"), pk=phase_id, plan_id=plan_id
    )


@require_GET
@login_required
def phase_dry_run(request, plan_id: int, phase_id: int):
    phase = _phase_for(request.user, plan_id, phase_id)
    try:
        number = max(int(request.GET.get("page", 1)), 1)
    except ValueError:
        number = 1
    report = dry_run(phase, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    pages = Paginator(range(report.conversations_total), PAGE_SIZE).get_page(number)
    return render(
        request, "channels_app/dry_run.html", {"phase": phase, "plan": phase.plan, "report": report, "pages": pages}
    )


@require_http_methods(["GET", "POST"])
@login_required
def run_rollback(request, run_id: int):
    if not can(request.user, "view"):
        raise Http404
    run = get_object_or_404(CutoverRun.objects.select_related("plan", "phase", "rolled_back_by"), pk=run_id)
    error = ""
    if request.method == "POST":
        require(request.user, "rollback_plan")
        try:
            services.rollback_run(actor=request.user, run=run, reason=request.POST.get("reason", ""))
        except ValidationError as exc:
            error = " ".join(exc.messages)
        except PermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        else:
            messages.success(request, "The phase was rolled back; the audit trail records it.")
            return redirect("run_rollback", run_id=run.pk)
    return render(
        request,
        "channels_app/run_rollback.html",
        {
            "run": run,
            "deadline": rollback_deadline(run),
            "error": error,
            "can_roll_back": can(request.user, "rollback_plan"),
            "reason": request.POST.get("reason", ""),
        },
        status=400 if error else 200,
    )
