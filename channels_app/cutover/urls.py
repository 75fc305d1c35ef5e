"""URLs of runs, dry runs, rollbacks, and the watchdog (the tracked link is handoff's)."""

from django.urls import path

from channels_app.cutover import views

urlpatterns = [
    path("plans/<int:plan_id>/phases/<int:phase_id>/dry-run/", views.phase_dry_run, name="phase_dry_run"),
    # The phase named by its kind, as `cutover_preview --phase hard_close` takes it.
    path("plans/<int:plan_id>/phases/<slug:kind>/dry-run/", views.phase_dry_run_by_kind, name="phase_dry_run_by_kind"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/failures/", views.run_failures, name="run_failures"),
    path("runs/<int:pk>/retry-deliveries/", views.run_retry_deliveries, name="run_retry_deliveries"),
    path("runs/<int:run_id>/rollback/", views.run_rollback, name="run_rollback"),
    path("runs/<int:pk>/retry-restores/", views.run_retry_restores, name="run_retry_restores"),
    path("channels/<int:channel_id>/watchdog/", views.channel_watchdog, name="channel_watchdog"),
]
