"""URLs of the audit log and of a plan's History."""

from django.urls import path

from channels_app.audit import views

urlpatterns = [
    path("audit/", views.audit_log, name="audit_log"),
    path("audit/<int:pk>/", views.audit_event, name="audit_event"),
    path("plans/<int:pk>/history/", views.plan_history, name="plan_history"),
]
