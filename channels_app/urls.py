from django.urls import include, path

from . import safety_views, views, views_tokens

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("plans/<int:plan_id>/phases/<int:phase_id>/dry-run/", safety_views.phase_dry_run, name="phase_dry_run"),
    path("runs/<int:run_id>/rollback/", safety_views.run_rollback, name="run_rollback"),
    path("channels/<int:channel_id>/watchdog/", safety_views.channel_watchdog, name="channel_watchdog"),
    path("r/<str:reference>", safety_views.tracked_redirect, name="tracked_redirect"),
    path("", include("channels_app.inbound_urls")),
]

# Workforce transition (HR): the reassignment board and the staffing check.
from . import workforce_views  # noqa: E402

urlpatterns += [
    path("plans/<int:plan_id>/reassignments/", workforce_views.plan_reassignments, name="plan_reassignments"),
    path(
        "plans/<int:plan_id>/reassignments/assign/",
        workforce_views.plan_reassignments_assign,
        name="plan_reassignments_assign",
    ),
    path(
        "plans/<int:plan_id>/reassignments/accept/",
        workforce_views.plan_reassignments_accept,
        name="plan_reassignments_accept",
    ),
    path(
        "plans/<int:plan_id>/reassignments/confirm/",
        workforce_views.plan_reassignments_confirm,
        name="plan_reassignments_confirm",
    ),
    path(
        "plans/<int:plan_id>/reassignments/clear/",
        workforce_views.plan_reassignments_clear,
        name="plan_reassignments_clear",
    ),
    path(
        "plans/<int:plan_id>/reassignments/notify/",
        workforce_views.plan_reassignments_notify,
        name="plan_reassignments_notify",
    ),
    path(
        "plans/<int:plan_id>/reassignments/import/",
        workforce_views.plan_reassignments_import,
        name="plan_reassignments_import",
    ),
    path(
        "plans/<int:plan_id>/reassignments.csv", workforce_views.plan_reassignments_csv, name="plan_reassignments_csv"
    ),
    path("plans/<int:plan_id>/staffing/", workforce_views.plan_staffing, name="plan_staffing"),
    path("settings/tokens/", views_tokens.token_list, name="api_tokens"),
    path("settings/tokens/<int:pk>/revoke/", views_tokens.token_revoke, name="api_token_revoke"),
]

# The browser portal's pages.
urlpatterns += [path("", include("channels_app.portal_urls"))]
