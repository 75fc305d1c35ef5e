"""ASGI entry point (e.g. uvicorn portal.asgi:application).

Paths under /hooks/ are served by the webhook handler (short middleware list, webhook URLconf),
everything else by Django's own handler with the full MIDDLEWARE: see portal/handlers.py, which
portal/wsgi.py uses the same way.
"""

import os

from django.core.asgi import get_asgi_application

from portal.handlers import WebhookASGIHandler, asgi_dispatcher

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
portal_application = get_asgi_application()  # sets Django up, so it comes first
webhook_application = WebhookASGIHandler()
application = asgi_dispatcher(portal_application, webhook_application)
