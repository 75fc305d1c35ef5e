"""ASGI entry point (e.g. uvicorn portal.asgi:application).

Paths under /hooks/ are served by the webhook handler (short middleware list, webhook URLconf),
the landing pages (/r/, /landing/) by the landing handler (no sessions or sign-in), everything
else by Django's own handler with the full MIDDLEWARE: see portal/handlers.py, which
portal/wsgi.py uses the same way.
"""

import os

from django.core.asgi import get_asgi_application

from portal.handlers import LandingASGIHandler, WebhookASGIHandler, asgi_dispatcher

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
portal_application = get_asgi_application()  # sets Django up, so it comes first
webhook_application = WebhookASGIHandler()
landing_application = LandingASGIHandler()
application = asgi_dispatcher(portal_application, webhook_application, landing_application)
