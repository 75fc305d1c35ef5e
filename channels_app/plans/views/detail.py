"""The plan page: contents, impact, runs, and the actions the reader's roles allow."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from channels_app.core.permissions import require
from channels_app.models import PlanState, SunsetPlan
from channels_app.plans.selectors import plan_delivery_counts, plan_for_page, plan_impact
from channels_app.plans.services.preflight import Preflight, run_preflight
from channels_app.workforce.selectors import acknowledgements

# The states in which the plan can still be submitted, approved or run: its preflight matters.
PREFLIGHT_STATES = (PlanState.DRAFT, PlanState.PENDING_APPROVAL, PlanState.SCHEDULED)
ENDED_STATES = (PlanState.COMPLETED, PlanState.FAILED, PlanState.CANCELLED, PlanState.ROLLED_BACK)


def render_plan_page(request, plan: SunsetPlan, *, preflight: Preflight | None = None, problems=(), status: int = 200):
    """The plan page. `preflight`: a result already in hand (a refused submission's, tested live);
    otherwise the page's own, whose connection tests may be a minute old. `problems`: why the
    action just tried was refused, shown at the top (with status 422)."""
    ran = plan.state not in (PlanState.DRAFT, PlanState.PENDING_APPROVAL, PlanState.SCHEDULED)
    if preflight is None and plan.state in PREFLIGHT_STATES:
        preflight = run_preflight(plan, cached=True)
    context = {
        "plan": plan,
        "impact": plan_impact(plan),
        "is_author": plan.author_id == request.user.pk,
        # After a run the page says what was delivered, not what was going to be sent.
        "delivery": plan_delivery_counts(plan.pk) if ran or plan.runs.all() else None,
        "ran": ran,
        # Nothing of it will run any more: the impact says what its runs did, not what they will do.
        "ended": plan.state in ENDED_STATES,
        # What would block submission or approval, shown before anyone clicks.
        "preflight": preflight,
        "problems": list(problems),
        # The agents' answers on their pages ("140 accepted, 7 concerns, 3 no answer").
        "acks": acknowledgements(plan),
    }
    return render(request, "channels_app/plan_detail.html", context, status=status)


@require_GET
@login_required
def plan_detail(request, pk: int):
    require(request.user, "view")
    try:
        plan = plan_for_page(pk)
    except SunsetPlan.DoesNotExist:
        raise Http404(_("No such plan.")) from None
    return render_plan_page(request, plan)
