"""WSGI entry point (gunicorn portal.wsgi).

Paths under /hooks/ are served by the webhook handler (short middleware list, webhook URLconf),
the landing pages (/r/, /landing/) by the landing handler (no sessions or sign-in), everything
else by Django's own handler with the full MIDDLEWARE: see portal/handlers.py, which
portal/asgi.py uses the same way.
"""

import os

from django.core.wsgi import get_wsgi_application

from portal.handlers import LandingWSGIHandler, WebhookWSGIHandler, wsgi_dispatcher

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
portal_application = get_wsgi_application()  # sets Django up, so it comes first
webhook_application = WebhookWSGIHandler()
landing_application = LandingWSGIHandler()
application = wsgi_dispatcher(portal_application, webhook_application, landing_application)
