"""The portal's URLs: each feature's own, under one root (portal/urls.py includes this)."""

from django.urls import include, path

from channels_app.web import views

urlpatterns = [
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
    path("", include("channels_app.handoff.urls")),
    path("", include("channels_app.audit.urls")),
    path("", include("channels_app.accounts.urls")),
]
