"""Webhooks get their own Django handler, under WSGI and ASGI alike.

Platform webhooks (paths under /hooks/) are signed machine-to-machine POSTs: they have no
session, user, CSRF token, language, flash messages or htmx, so they are served by a second
Django handler with only the middleware that shapes their response (DUSK_WEBHOOK_MIDDLEWARE:
security headers, CSP, Content-Length) and a URLconf holding nothing but the webhooks
(DUSK_WEBHOOK_URLCONF). The browser stack measured about 0.15 ms of CPU per request that a
webhook delivery had no use for. Everything else goes through the full MIDDLEWARE.

portal/wsgi.py and portal/asgi.py each put one dispatcher in front of the two handlers.
"""

import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.utils.module_loading import import_string

WEBHOOK_PREFIX = "/hooks/"

logger = logging.getLogger("django.request")


class WebhookHandlerMixin:
    """A Django handler whose chain is DUSK_WEBHOOK_MIDDLEWARE and whose URLconf is
    DUSK_WEBHOOK_URLCONF; settings.MIDDLEWARE is only read by the other handler."""

    middleware: list[str]

    def load_middleware(self, is_async=False):
        # Django's BaseHandler.load_middleware (5.2) reads settings.MIDDLEWARE and has no way to
        # be given another list; this is the same loop over an explicit one, so the chain is built
        # exactly as Django builds it (sync/async adaptation, MiddlewareNotUsed, the process_*
        # hooks) without ever changing a setting other code may be reading.
        self.middleware = list(settings.DUSK_WEBHOOK_MIDDLEWARE)
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []

        get_response = self._get_response_async if is_async else self._get_response
        handler = convert_exception_to_response(get_response)
        handler_is_async = is_async
        for middleware_path in reversed(self.middleware):
            middleware = import_string(middleware_path)
            middleware_can_sync = getattr(middleware, "sync_capable", True)
            middleware_can_async = getattr(middleware, "async_capable", False)
            if not middleware_can_sync and not middleware_can_async:
                raise RuntimeError(
                    f"Middleware {middleware_path} must have at least one of sync_capable/async_capable set to True."
                )
            # A sync-capable middleware under a sync handler stays sync; otherwise async if it can.
            middleware_is_async = middleware_can_async if handler_is_async or not middleware_can_sync else False
            try:
                adapted_handler = self.adapt_method_mode(
                    middleware_is_async,
                    handler,
                    handler_is_async,
                    debug=settings.DEBUG,
                    name=f"middleware {middleware_path}",
                )
                mw_instance = middleware(adapted_handler)
            except MiddlewareNotUsed as exc:
                if settings.DEBUG:
                    logger.debug("MiddlewareNotUsed(%r): %s", middleware_path, exc)
                continue
            handler = adapted_handler
            if mw_instance is None:
                raise ImproperlyConfigured(f"Middleware factory {middleware_path} returned None.")
            if hasattr(mw_instance, "process_view"):
                self._view_middleware.insert(0, self.adapt_method_mode(is_async, mw_instance.process_view))
            if hasattr(mw_instance, "process_template_response"):
                self._template_response_middleware.append(
                    self.adapt_method_mode(is_async, mw_instance.process_template_response)
                )
            if hasattr(mw_instance, "process_exception"):
                # Django runs the exception stack synchronously, whatever the handler.
                self._exception_middleware.append(self.adapt_method_mode(False, mw_instance.process_exception))
            handler = convert_exception_to_response(mw_instance)
            handler_is_async = middleware_is_async

        # Assigned last: Django reads a set chain as "initialisation complete".
        self._middleware_chain = self.adapt_method_mode(is_async, handler, handler_is_async)

    def get_response(self, request):
        request.urlconf = settings.DUSK_WEBHOOK_URLCONF  # only webhook views resolve here
        return super().get_response(request)

    async def get_response_async(self, request):
        request.urlconf = settings.DUSK_WEBHOOK_URLCONF
        return await super().get_response_async(request)


class WebhookWSGIHandler(WebhookHandlerMixin, WSGIHandler):
    pass


class WebhookASGIHandler(WebhookHandlerMixin, ASGIHandler):
    pass


def is_webhook_path(path_info: str) -> bool:
    return path_info.startswith(WEBHOOK_PREFIX)


def wsgi_dispatcher(portal, webhooks):
    """One WSGI callable: paths under /hooks/ to `webhooks`, the rest to `portal`."""

    def application(environ, start_response):
        if is_webhook_path(environ.get("PATH_INFO", "")):
            return webhooks(environ, start_response)
        return portal(environ, start_response)

    return application


def asgi_dispatcher(portal, webhooks):
    """One ASGI callable: HTTP paths under /hooks/ to `webhooks`, everything else (other paths,
    lifespan) to `portal`."""

    async def application(scope, receive, send):
        # The path the URLconf sees, as Django's ASGIRequest computes it: without the script prefix.
        if scope["type"] == "http" and is_webhook_path(scope["path"].removeprefix(get_script_prefix(scope))):
            return await webhooks(scope, receive, send)
        return await portal(scope, receive, send)

    return application
