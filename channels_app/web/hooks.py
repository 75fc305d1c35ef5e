"""The signed webhooks' URLs, and nothing else: portal/wsgi.py and portal/asgi.py serve paths under /hooks/ with this
URLconf and a short middleware list, so no other view can ever be reached without the browser
middleware (sessions, CSRF, sign-in). Its error pages are JSON: the portal's templates need the
browser middleware (request.user)."""

from django.urls import path

from channels_app.handoff.views import handoff_arrival
from channels_app.platforms.adapters.registry import PLATFORMS
from channels_app.platforms.views import webhooks

# /hooks/<id>/<kind> for every platform that takes webhooks (hook_x, hook_discourse...).
urlpatterns = [
    path(f"hooks/<int:channel_id>/{kind}", webhooks.platform_webhook(kind), name=f"hook_{kind}")
    for kind, platform in PLATFORMS.items()
    if platform.webhook_methods
] + [
    # A hand-off destination reports that a customer arrived there, or was solved.
    path("hooks/handoff/<int:destination_id>/arrival", handoff_arrival, name="handoff_arrival"),
]

handler404 = webhooks.not_found
handler500 = webhooks.server_error
