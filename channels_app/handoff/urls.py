"""URLs of the landing page at the tracked link and of a plan's landing settings."""

from django.urls import path

from channels_app.handoff import views

urlpatterns = [
    path("r/<str:reference>", views.landing, name="tracked_redirect"),
    path("r/<str:reference>/go/<int:position>", views.landing_choose, name="landing_choose"),
    path("r/<str:reference>/contact", views.landing_contact, name="landing_contact"),
    path("landing/<int:plan_id>/brand-<int:version>.css", views.landing_brand_css, name="landing_brand_css"),
    path("landing/<int:plan_id>/logo-<int:version>", views.landing_logo, name="landing_logo"),
    path("plans/<int:plan_id>/landing/", views.plan_landing, name="plan_landing"),
]
