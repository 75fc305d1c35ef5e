"""URLs of the audit log."""

from django.urls import path

from channels_app.audit import views

urlpatterns = [
    path("audit/", views.audit_log, name="audit_log"),
    path("audit/<int:pk>/", views.audit_event, name="audit_event"),
]
