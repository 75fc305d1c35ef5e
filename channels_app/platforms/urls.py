"""URLs of the platform edge seen from the browser: each channel's message log. The signed
webhooks have their own URLconf (channels_app/web/hooks.py), served with the short middleware list."""

from django.urls import path

from channels_app.platforms.views import messages

urlpatterns = [
    path("channels/<int:channel_id>/messages/", messages.channel_messages, name="channel_messages"),
    path(
        "channels/<int:channel_id>/messages/retry-failed",
        messages.retry_failed,
        name="channel_messages_retry_failed",
    ),
    path("channels/<int:channel_id>/test-connection/", messages.test_connection, name="channel_test_connection"),
]
