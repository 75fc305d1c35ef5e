"""Pages for walking through the door safely: a phase's dry run, a run's rollback."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from channels_app.core.charts import column_chart
from channels_app.core.errors import InvalidTransition, NotFound
from channels_app.core.permissions import can, require
from channels_app.core.views import FORM_ERROR_STATUS
from channels_app.cutover.selectors import (
    dry_run,
    failed_emails,
    failed_handoffs,
    rollback_summary_lines,
    run_for_page,
    run_progress,
    watchdog_metrics,
)
from channels_app.cutover.services.delivery import retry_failed_deliveries
from channels_app.cutover.services.rollback import rollback_deadline, rollback_run
from channels_app.models import (
    FINISHED_RUN_STATES,
    Channel,
    CutoverRun,
    Phase,
    PhaseKind,
    PublicationState,
    RunState,
    WatchdogAlert,
)
from channels_app.plans.selectors import run_delivery_counts
from channels_app.platforms.selectors import reason_text, run_public_changes
from channels_app.platforms.services.publications import retry_restores

PAGE_SIZE = 50
MAX_PAGE = 1_000_000_000


def _phase_for(user, plan_id: int, phase_id: int) -> Phase:
    require(user, "view")
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
    # A page past the last shows the last (as Paginator.get_page does); an offset beyond what
    # PostgreSQL's bigint holds was a server error.
    number = min(number, MAX_PAGE)
    report = dry_run(phase, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    pages = Paginator(range(report.conversations_total), PAGE_SIZE).get_page(number)
    if pages.number != number:
        report = dry_run(phase, limit=PAGE_SIZE, offset=(pages.number - 1) * PAGE_SIZE)
    return render(
        request, "channels_app/dry_run.html", {"phase": phase, "plan": phase.plan, "report": report, "pages": pages}
    )


@require_GET
@login_required
def phase_dry_run_by_kind(request, plan_id: int, kind: str):
    """The same page, the phase named by its kind (the first of that kind in time; `?region=`
    picks a region's phase in a follow-the-sun plan)."""
    require(request.user, "view")
    if kind not in PhaseKind.values:
        raise NotFound(_("No such phase kind: a phase is a notice, a soft close, a hard close or an archive."))
    phases = Phase.objects.filter(plan_id=plan_id, kind=kind)
    region = request.GET.get("region", "")
    if region:
        phases = phases.filter(region=region)
    phase = phases.order_by("instant", "id").first()
    if phase is None:
        raise NotFound(_("This plan has no such phase."))
    return phase_dry_run(request, plan_id=plan_id, phase_id=phase.pk)


@require_http_methods(["GET", "POST"])
@login_required
def run_rollback(request, run_id: int):
    require(request.user, "view")
    run = get_object_or_404(CutoverRun.objects.select_related("plan", "phase", "rolled_back_by"), pk=run_id)
    error = ""
    if request.method == "POST":
        require(request.user, "rollback_plan")
        try:
            rollback_run(actor=request.user, run=run, reason=request.POST.get("reason", ""))
        except ValidationError as exc:
            error = " ".join(exc.messages)
        except PermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        else:
            messages.success(request, _("The phase was rolled back; the audit trail records it."))
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
            "rollback_summary": rollback_summary_lines(run),
            # What the public notice changed and a rollback will put back, as the run page lists it.
            "public_to_restore": [p for p in run_public_changes(run.pk) if p.state == PublicationState.PUBLISHED]
            if not run.rolled_back_at
            else [],
        },
        status=FORM_ERROR_STATUS if error else 200,
    )


CHART_W, CHART_H, CHART_PAD = 720, 180, 28


@require_GET
@login_required
def channel_watchdog(request, channel_id: int):
    require(request.user, "view")
    channel = get_object_or_404(Channel, pk=channel_id)
    metrics = watchdog_metrics(channel)
    plot = CHART_H - 2 * CHART_PAD
    bars, peak = column_chart(
        metrics.hourly, left=CHART_PAD, top=CHART_PAD, plot_width=CHART_W - 2 * CHART_PAD, plot_height=plot, gap=1
    )
    alerts = WatchdogAlert.objects.filter(channel=channel)[:20]
    return render(
        request,
        "channels_app/channel_watchdog.html",
        {
            "channel": channel,
            "metrics": metrics,
            "bars": bars,
            "peak": peak,
            "alerts": alerts,
            "chart": {"w": CHART_W, "h": CHART_H, "pad": CHART_PAD, "base": CHART_H - CHART_PAD},
        },
    )


@require_GET
@login_required
def run_detail(request, pk: int):
    require(request.user, "view")
    try:
        run = run_for_page(pk)
    except CutoverRun.DoesNotExist:
        raise Http404(_("No such run.")) from None
    now = timezone.now()
    progress = run_progress(run, now=now)
    not_restored = (
        [p for p in progress.publications if p.state == PublicationState.PUBLISHED] if run.rolled_back_at else []
    )
    context = {
        "run": run,
        "steps": progress.steps,
        # Database steps and delivery together (so far, while running or delivering).
        "elapsed": progress.timings.total_seconds
        if progress.timings.total_seconds is not None
        else ((now - run.started_at).total_seconds() if run.started_at else None),
        "live": run.state in (RunState.QUEUED, RunState.RUNNING, RunState.DELIVERING),
        "delivery": progress.delivery,
        "failures": [(row, reason_text(row.last_error)) for row in progress.failures],
        "failures_not_shown": progress.failures_not_shown,
        "timings": progress.timings,
        "publications": progress.publications,
        "publications_failed": any(p.state == PublicationState.FAILED for p in progress.publications),
        "can_retry": run.state == RunState.COMPLETED_WITH_FAILURES
        and run.rolled_back_at is None
        and can(request.user, "manage_channels"),
        "can_roll_back": run.state in FINISHED_RUN_STATES
        and run.rolled_back_at is None
        and can(request.user, "rollback_plan"),
        "rollback_summary": rollback_summary_lines(run),
        # A rolled-back run's public changes still published: their platform refused the undo.
        "not_restored": not_restored,
        "can_retry_restores": bool(not_restored) and can(request.user, "rollback_plan"),
    }
    template = "channels_app/run_detail.html"
    if request.htmx:
        template += "#progress"
    return render(request, template, context)


@require_GET
@login_required
def run_failures(request, pk: int):
    """Every message of a run that was not delivered, page by page: the hand-off notices (with
    their channel, reference and reason) and the emails."""
    require(request.user, "view")
    run = get_object_or_404(CutoverRun.objects.select_related("plan", "phase"), pk=pk)
    handoffs = Paginator(failed_handoffs(run.pk), PAGE_SIZE).get_page(request.GET.get("page"))
    emails = Paginator(failed_emails(run.pk), PAGE_SIZE).get_page(request.GET.get("emails_page"))
    return render(
        request,
        "channels_app/run_failures.html",
        {
            "run": run,
            "delivery": run_delivery_counts(run.pk),
            "handoffs": handoffs,
            "handoff_rows": [(row, reason_text(row.last_error)) for row in handoffs.object_list],
            "emails": emails,
        },
    )


@require_POST
@login_required
def run_retry_deliveries(request, pk: int):
    """Queue the run's undelivered hand-off notices and emails again (after fixing the cause)."""
    require(request.user, "manage_channels")
    run = get_object_or_404(CutoverRun, pk=pk)
    try:
        count = retry_failed_deliveries(actor=request.user, run=run)
    except InvalidTransition as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            ngettext(
                "%(n)s message queued again; the run is delivering.",
                "%(n)s messages queued again; the run is delivering.",
                count,
            )
            % {"n": count},
        )
    return redirect("run_detail", pk=run.pk)


@require_POST
@login_required
def run_retry_restores(request, pk: int):
    """Ask the platforms again to restore what a rolled-back run's public changes replaced, for
    the changes they refused to restore (after fixing the cause)."""
    require(request.user, "rollback_plan")
    run = get_object_or_404(CutoverRun, pk=pk)
    try:
        restored, errors = retry_restores(actor=request.user, run=run)
    except InvalidTransition as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("run_detail", pk=run.pk)
    if errors:
        messages.error(
            request,
            ngettext(
                "%(n)s public change is still not restored; its platform's answer is below.",
                "%(n)s public changes are still not restored; their platforms' answers are below.",
                len(errors),
            )
            % {"n": len(errors)},
        )
    if restored:
        messages.success(
            request,
            ngettext(
                "%(n)s public change restored on its platform",
                "%(n)s public changes restored on their platforms",
                restored,
            )
            % {"n": restored},
        )
    return redirect("run_detail", pk=run.pk)
