"""A plan's landing page settings: branding, the default reference parameter, phone hours. The
wizard's redirect step sets the same through the same service."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from channels_app.core.permissions import can, require
from channels_app.core.views import FORM_ERROR_STATUS, error_dict
from channels_app.core.zones import zone_choices
from channels_app.models import LandingPage, PlanState, SunsetPlan
from channels_app.plans.forms import LandingPageForm
from channels_app.plans.services.landing import save_landing_page


@require_http_methods(["GET", "POST"])
@login_required
def plan_landing(request, plan_id: int):
    """A plan's landing page: branding, reference parameter, phone hours, and a preview link."""
    require(request.user, "view")
    plan = get_object_or_404(SunsetPlan, pk=plan_id)
    page = LandingPage.objects.filter(plan=plan).defer("logo").first() or LandingPage(plan=plan)
    may_edit = can(request.user, "draft_plan")
    if request.method == "POST":
        require(request.user, "draft_plan")
        form = LandingPageForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            logo = data.get("logo")
            try:
                save_landing_page(
                    actor=request.user,
                    plan=plan,
                    display_name=data["display_name"],
                    accent=data["accent"],
                    reference_param=data["reference_param"],
                    phone_opens=data["phone_opens"],
                    phone_closes=data["phone_closes"],
                    phone_zone=data["phone_zone"],
                    logo=logo[0] if logo else None,
                    logo_type=logo[1] if logo else "",
                    remove_logo=data["remove_logo"],
                )
            except ValidationError as exc:
                for field, errors in error_dict(exc).items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                messages.success(request, _("The landing page was saved."))
                return redirect("plan_landing", plan_id=plan.pk)
        status = FORM_ERROR_STATUS
    else:
        form = LandingPageForm(
            initial={
                "display_name": page.display_name,
                "accent": page.accent,
                "reference_param": page.reference_param,
                "phone_opens": page.phone_opens,
                "phone_closes": page.phone_closes,
                "phone_zone": page.phone_zone,
            }
        )
        status = 200
    return render(
        request,
        "channels_app/plan_landing.html",
        {
            "plan": plan,
            "page": page,
            "form": form,
            "may_edit": may_edit,
            "in_wizard": may_edit and plan.state == PlanState.DRAFT,
            "has_logo": bool(page.logo_type),
            "zones": zone_choices(),
        },
        status=status,
    )
