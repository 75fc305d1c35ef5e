"""The portal's URLs: each feature's own, under one root (portal/urls.py includes this)."""

from django.urls import include, path

from channels_app.web import views

urlpatterns = [
    # First: the landing page at the tracked link is the busiest public page, and Django tries the
    # patterns in order (no other feature's pattern matches r/... or landing/...).
    path("", include("channels_app.handoff.urls")),
    path("", views.dashboard, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("csp-report/", views.csp_report, name="csp_report"),
    path("", include("channels_app.web.hooks")),
    path("", include("channels_app.directory.urls")),
    path("", include("channels_app.plans.urls")),
    path("", include("channels_app.workforce.urls")),
    path("", include("channels_app.platforms.urls")),
    path("", include("channels_app.cutover.urls")),
    path("", include("channels_app.audit.urls")),
    path("", include("channels_app.accounts.urls")),
]
