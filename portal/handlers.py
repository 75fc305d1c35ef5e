"""Webhooks and the customer's landing pages get their own Django handlers, under WSGI and ASGI
alike.

Platform webhooks (paths under /hooks/) are signed machine-to-machine POSTs: they have no
session, user, CSRF token, language, flash messages or htmx, so they are served by a second
Django handler with only the middleware that shapes their response (DUSK_WEBHOOK_MIDDLEWARE:
security headers, CSP, Content-Length) and a URLconf holding nothing but the webhooks
(DUSK_WEBHOOK_URLCONF). The browser stack measured about 0.15 ms of CPU per request that a
webhook delivery had no use for.

The landing pages (paths under /r/ and /landing/: the tracked link in every auto-reply, the
busiest public page) are a customer's, who never signs in: a third handler serves them without
sessions, sign-in, flash messages, htmx, time zones and django-axes, keeping language, the text
checks and CSRF (DUSK_LANDING_MIDDLEWARE), on the project's URLconf.

Everything else goes through the full MIDDLEWARE. portal/wsgi.py and portal/asgi.py each put one
dispatcher in front of the handlers.
"""

import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.utils.module_loading import import_string

WEBHOOK_PREFIX = "/hooks/"
LANDING_PREFIXES = ("/r/", "/landing/")

logger = logging.getLogger("django.request")


class LeanHandlerMixin:
    """A Django handler whose chain is the middleware list named by `middleware_setting` and,
    when `urlconf_setting` names one, whose URLconf is that; settings.MIDDLEWARE is only read by
    Django's own handler."""

    middleware: list[str]
    middleware_setting: str
    urlconf_setting: str | None = None

    def load_middleware(self, is_async=False):
        # Django's BaseHandler.load_middleware (5.2) reads settings.MIDDLEWARE and has no way to
        # be given another list; this is the same loop over an explicit one, so the chain is built
        # exactly as Django builds it (sync/async adaptation, MiddlewareNotUsed, the process_*
        # hooks) without ever changing a setting other code may be reading.
        self.middleware = list(getattr(settings, self.middleware_setting))
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
        if self.urlconf_setting:
            request.urlconf = getattr(settings, self.urlconf_setting)  # only its views resolve here
        return super().get_response(request)

    async def get_response_async(self, request):
        if self.urlconf_setting:
            request.urlconf = getattr(settings, self.urlconf_setting)
        return await super().get_response_async(request)


class WebhookHandlerMixin(LeanHandlerMixin):
    """DUSK_WEBHOOK_MIDDLEWARE, and the webhooks' own URLconf (DUSK_WEBHOOK_URLCONF)."""

    middleware_setting = "DUSK_WEBHOOK_MIDDLEWARE"
    urlconf_setting = "DUSK_WEBHOOK_URLCONF"


class LandingHandlerMixin(LeanHandlerMixin):
    """DUSK_LANDING_MIDDLEWARE, on the project's URLconf."""

    middleware_setting = "DUSK_LANDING_MIDDLEWARE"


class WebhookWSGIHandler(WebhookHandlerMixin, WSGIHandler):
    pass


class WebhookASGIHandler(WebhookHandlerMixin, ASGIHandler):
    pass


class LandingWSGIHandler(LandingHandlerMixin, WSGIHandler):
    pass


class LandingASGIHandler(LandingHandlerMixin, ASGIHandler):
    pass


def is_webhook_path(path_info: str) -> bool:
    return path_info.startswith(WEBHOOK_PREFIX)


def is_landing_path(path_info: str) -> bool:
    return path_info.startswith(LANDING_PREFIXES)


def wsgi_dispatcher(portal, webhooks, landing=None):
    """One WSGI callable: paths under /hooks/ to `webhooks`, under /r/ and /landing/ to
    `landing` (when given), the rest to `portal`."""

    def application(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if is_webhook_path(path):
            return webhooks(environ, start_response)
        if landing is not None and is_landing_path(path):
            return landing(environ, start_response)
        return portal(environ, start_response)

    return application


def asgi_dispatcher(portal, webhooks, landing=None):
    """One ASGI callable: HTTP paths under /hooks/ to `webhooks`, under /r/ and /landing/ to
    `landing` (when given), everything else (other paths, lifespan) to `portal`."""

    async def application(scope, receive, send):
        if scope["type"] == "http":
            # The path the URLconf sees, as Django's ASGIRequest computes it: without the script prefix.
            path = scope["path"].removeprefix(get_script_prefix(scope))
            if is_webhook_path(path):
                return await webhooks(scope, receive, send)
            if landing is not None and is_landing_path(path):
                return await landing(scope, receive, send)
        return await portal(scope, receive, send)

    return application
