"""The signed webhooks' URLs, and nothing else: portal/wsgi.py and portal/asgi.py serve paths under /hooks/ with this
URLconf and a short middleware list, so no other view can ever be reached without the browser
middleware (sessions, CSRF, sign-in). Its error pages are JSON: the portal's templates need the
browser middleware (request.user)."""

from django.urls import path

from channels_app.platforms.views import webhooks

urlpatterns = [
    path("hooks/<int:channel_id>/x", webhooks.x_webhook, name="hook_x"),
    path("hooks/<int:channel_id>/discourse", webhooks.discourse_webhook, name="hook_discourse"),
    path("hooks/<int:channel_id>/messenger", webhooks.messenger_webhook, name="hook_messenger"),
    path("hooks/<int:channel_id>/email", webhooks.email_webhook, name="hook_email"),
]


handler404 = webhooks.not_found
handler500 = webhooks.server_error
