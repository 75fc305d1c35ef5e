"""URLs of the platform edge: signed webhooks and each channel's message log."""

from django.urls import include, path

from . import views_messages

urlpatterns = [
    path("", include("channels_app.hook_urls")),
    path("channels/<int:channel_id>/messages/", views_messages.channel_messages, name="channel_messages"),
    path(
        "channels/<int:channel_id>/messages/retry-failed",
        views_messages.retry_failed,
        name="channel_messages_retry_failed",
    ),
]
