"""The landing page and the hand-offs in the admin site: read-only (visits, choices, contact
requests and arrivals are written by the public pages and the destinations, branding and
destinations on the plan's pages, deliveries by the workers); a failed delivery is sent again
through the service, as on the plan's Hand-offs page."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from channels_app.admin.modeladmins import ReadOnlyAdmin
from channels_app.handoff.services.delivery import requeue_handoff_delivery
from channels_app.models import (
    HandoffArrival,
    HandoffDelivery,
    HandoffDestination,
    HandoffRequest,
    LandingPage,
    LandingVisit,
    RedirectClick,
)


@admin.register(LandingPage)
class LandingPageAdmin(ReadOnlyAdmin):
    list_display = ["plan", "display_name", "accent", "logo_type", "reference_param", "version", "updated_at"]
    list_select_related = ["plan"]
    exclude = ["logo"]  # served at /landing/<plan>/logo-<version>, not as bytes in a form


@admin.register(LandingVisit)
class LandingVisitAdmin(ReadOnlyAdmin):
    list_display = ["at", "conversation", "kind"]
    list_select_related = ["conversation"]
    list_filter = ["kind"]
    search_fields = ["conversation__reference"]
    raw_id_fields = ["conversation"]
    show_full_result_count = False


@admin.register(RedirectClick)
class RedirectClickAdmin(ReadOnlyAdmin):
    list_display = ["at", "conversation", "target"]
    list_select_related = ["conversation", "target"]
    search_fields = ["conversation__reference"]
    raw_id_fields = ["conversation", "target"]
    show_full_result_count = False


@admin.register(HandoffRequest)
class HandoffRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "conversation", "plan", "email", "state", "created_at"]
    list_select_related = ["conversation", "plan"]
    list_filter = ["state"]
    search_fields = ["conversation__reference", "email"]
    raw_id_fields = ["conversation", "plan"]
    show_full_result_count = False


@admin.register(HandoffDestination)
class HandoffDestinationAdmin(ReadOnlyAdmin):
    # The credentials are names of environment variables, never the secrets.
    list_display = ["plan", "position", "kind", "url", "credential_env", "arrival_secret_env", "created_at"]
    list_select_related = ["plan"]
    list_filter = ["kind"]


@admin.action(description="Send again (failed hand-offs)")
def requeue_deliveries(modeladmin, request, queryset):
    done = 0
    for delivery in queryset.select_related("destination", "request"):
        try:
            requeue_handoff_delivery(actor=request.user, delivery=delivery)
            done += 1
        except (ValidationError, PermissionDenied) as exc:
            text = "; ".join(getattr(exc, "messages", None) or [str(exc)])
            modeladmin.message_user(request, f"{delivery}: {text}", messages.ERROR)
    if done:
        modeladmin.message_user(request, f"{done} hand-off(s) queued again.", messages.SUCCESS)


@admin.register(HandoffDelivery)
class HandoffDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "request", "destination", "state", "attempts", "in_doubt", "next_attempt_at", "sent_at"]
    list_select_related = ["request", "destination"]
    list_filter = ["state", "in_doubt"]
    raw_id_fields = ["request", "destination"]
    actions = [requeue_deliveries]
    show_full_result_count = False


@admin.register(HandoffArrival)
class HandoffArrivalAdmin(ReadOnlyAdmin):
    list_display = ["at", "conversation", "destination", "status"]
    list_select_related = ["conversation", "destination"]
    list_filter = ["status"]
    search_fields = ["conversation__reference"]
    raw_id_fields = ["conversation", "destination"]
    show_full_result_count = False
