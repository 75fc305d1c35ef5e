"""WSGI entry point (gunicorn portal.wsgi).

Platform webhooks (paths under /hooks/) are signed machine-to-machine POSTs: they have no
session, user, CSRF token, language, flash messages or htmx, so they are served by a second
Django handler with only the middleware that shapes their response (DUSK_WEBHOOK_MIDDLEWARE:
security headers, CSP, Content-Length) and with a URLconf holding nothing but the webhooks
(channels_app/web/hooks.py). The browser stack measured about 0.15 ms of CPU per request that
a webhook delivery had no use for. Everything else goes through the full MIDDLEWARE.
"""

import os

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
portal_application = get_wsgi_application()  # sets Django up

WEBHOOK_PREFIX = "/hooks/"
WEBHOOK_URLCONF = "channels_app.web.hooks"


class WebhookHandler(WSGIHandler):
    """Django's WSGI handler with DUSK_WEBHOOK_MIDDLEWARE and the webhook URLconf."""

    def load_middleware(self, is_async=False):
        # BaseHandler builds its chain from settings.MIDDLEWARE; lend it the webhook list for
        # that one call (at startup, before any request is served), so Django's own code
        # builds the chain.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = list(settings.DUSK_WEBHOOK_MIDDLEWARE)
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full

    def get_response(self, request):
        request.urlconf = WEBHOOK_URLCONF  # only webhook views resolve here
        return super().get_response(request)


webhook_application = WebhookHandler()


def application(environ, start_response):
    if environ.get("PATH_INFO", "").startswith(WEBHOOK_PREFIX):
        return webhook_application(environ, start_response)
    return portal_application(environ, start_response)
