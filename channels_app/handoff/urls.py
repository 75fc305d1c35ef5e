"""URLs of the landing page at the tracked link and of a plan's hand-offs and funnel."""

from django.urls import path

from channels_app.handoff import views

urlpatterns = [
    path("r/<str:reference>", views.landing, name="tracked_redirect"),
    path("r/<str:reference>/go/<int:position>", views.landing_choose, name="landing_choose"),
    path("r/<str:reference>/contact", views.landing_contact, name="landing_contact"),
    path("landing/<int:plan_id>/brand-<int:version>.css", views.landing_brand_css, name="landing_brand_css"),
    path("landing/<int:plan_id>/logo-<int:version>", views.landing_logo, name="landing_logo"),
    path("plans/<int:plan_id>/handoffs/", views.plan_handoffs, name="plan_handoffs"),
    path("plans/<int:plan_id>/contact-requests/", views.plan_contact_requests, name="plan_contact_requests"),
    path("plans/<int:plan_id>/funnel/", views.plan_funnel, name="plan_funnel"),
    path("plans/<int:plan_id>/funnel.csv", views.plan_funnel_csv, name="plan_funnel_csv"),
    path(
        "plans/<int:plan_id>/handoffs/destinations/<int:destination_id>/remove/",
        views.plan_handoff_destination_remove,
        name="plan_handoff_destination_remove",
    ),
    path(
        "plans/<int:plan_id>/handoffs/<int:delivery_id>/requeue/",
        views.handoff_delivery_requeue,
        name="handoff_delivery_requeue",
    ),
]
