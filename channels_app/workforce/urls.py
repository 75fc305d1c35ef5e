"""URLs of the reassignment board, the staffing check and the agent's personal page."""

from django.urls import path

from channels_app.workforce.views import agent_page
from channels_app.workforce.views import board as views

urlpatterns = [
    path("plans/<int:plan_id>/reassignments/", views.plan_reassignments, name="plan_reassignments"),
    path(
        "plans/<int:plan_id>/reassignments/assign/", views.plan_reassignments_assign, name="plan_reassignments_assign"
    ),
    path(
        "plans/<int:plan_id>/reassignments/accept/", views.plan_reassignments_accept, name="plan_reassignments_accept"
    ),
    path(
        "plans/<int:plan_id>/reassignments/confirm/",
        views.plan_reassignments_confirm,
        name="plan_reassignments_confirm",
    ),
    path("plans/<int:plan_id>/reassignments/clear/", views.plan_reassignments_clear, name="plan_reassignments_clear"),
    path(
        "plans/<int:plan_id>/reassignments/notify/", views.plan_reassignments_notify, name="plan_reassignments_notify"
    ),
    path(
        "plans/<int:plan_id>/reassignments/import/", views.plan_reassignments_import, name="plan_reassignments_import"
    ),
    path("plans/<int:plan_id>/reassignments.csv", views.plan_reassignments_csv, name="plan_reassignments_csv"),
    path("plans/<int:plan_id>/reassignments/reply/", views.plan_reassignments_reply, name="plan_reassignments_reply"),
    path("plans/<int:plan_id>/reassignments/link/", views.plan_reassignments_link, name="plan_reassignments_link"),
    path("plans/<int:plan_id>/staffing/", views.plan_staffing, name="plan_staffing"),
    path("plans/<int:plan_id>/outcomes/", views.plan_outcomes, name="plan_outcomes"),
    path("plans/<int:plan_id>/outcomes.csv", views.plan_outcomes_csv, name="plan_outcomes_csv"),
    path("outcomes/", views.outcomes, name="outcomes"),
    path("outcomes.csv", views.outcomes_csv_export, name="outcomes_csv"),
    path("outcomes/departures/", views.outcomes_departure, name="outcomes_departure"),
    # The agent's page: public, the signed link is the key.
    path("agent/<str:token>/", agent_page.agent_page_view, name="agent_page"),
    path("agent/<str:token>/answer/", agent_page.agent_page_answer, name="agent_page_answer"),
    path("agent/<str:token>/checklist/<int:item_id>/", agent_page.agent_page_tick, name="agent_page_tick"),
]
