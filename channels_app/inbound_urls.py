"""URLs of the platform edge: signed webhooks and each channel's message log."""

from django.urls import path

from . import views_messages, webhooks

urlpatterns = [
    path("hooks/<int:channel_id>/x", webhooks.x_webhook, name="hook_x"),
    path("hooks/<int:channel_id>/discourse", webhooks.discourse_webhook, name="hook_discourse"),
    path("hooks/<int:channel_id>/messenger", webhooks.messenger_webhook, name="hook_messenger"),
    path("hooks/<int:channel_id>/email", webhooks.email_webhook, name="hook_email"),
    path("channels/<int:channel_id>/messages/", views_messages.channel_messages, name="channel_messages"),
    path(
        "channels/<int:channel_id>/messages/retry-failed",
        views_messages.retry_failed,
        name="channel_messages_retry_failed",
    ),
]
