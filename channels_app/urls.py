from django.urls import path

from . import safety_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("plans/<int:plan_id>/phases/<int:phase_id>/dry-run/", safety_views.phase_dry_run, name="phase_dry_run"),
    path("runs/<int:run_id>/rollback/", safety_views.run_rollback, name="run_rollback"),
    path("channels/<int:channel_id>/watchdog/", safety_views.channel_watchdog, name="channel_watchdog"),
    path("r/<str:reference>", safety_views.tracked_redirect, name="tracked_redirect"),
]
