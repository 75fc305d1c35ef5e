"""What every response carries: the Content-Security-Policy and the request's id; the one
text rule every request of the portal and the API is held to; refusals recorded as security
events."""

import json
import re
import uuid
from urllib.parse import unquote_to_bytes, urlsplit

from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _

from channels_app.audit.services import record_security_event
from channels_app.core.client_ip import client_ip
from channels_app.core.logcontext import log_context
from channels_app.core.textinput import first_unsafe, normalise_newlines

# No 'unsafe-inline', no 'unsafe-eval': every script and style is a file under
# /static/, htmx runs with allowEval and indicator styles off (see base.html).
STRICT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def content_security_policy() -> str:
    policy = getattr(settings, "DUSK_CSP", STRICT_POLICY)
    provider = _origin(settings.DUSK_OIDC_END_SESSION_ENDPOINT)
    if provider:
        # Signing out is a form whose answer redirects to the identity provider's
        # end-session page; form-action covers that redirect.
        policy = policy.replace("form-action 'self'", f"form-action 'self' {provider}")
    report = getattr(settings, "DUSK_CSP_REPORT_URI", "/csp-report/")
    if report:
        policy = f"{policy}; report-uri {report}"
    return policy


# An origin a page may name for its forms to submit to: scheme, host and port, nothing else.
FORM_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class ContentSecurityPolicyMiddleware:
    """The strict policy on every response. A page whose forms submit elsewhere (the landing
    page's choices that take the reference as a form field) lists those origins in
    `response.csp_form_action`; each must be a bare origin, or it is left out."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            policy = content_security_policy()
            origins = [o for o in getattr(response, "csp_form_action", ()) if FORM_ORIGIN.match(o)]
            if origins:
                policy = policy.replace("form-action 'self'", "form-action 'self' " + " ".join(origins), 1)
            response["Content-Security-Policy"] = policy
        return response


class TextInputMiddleware:
    """Refuses, with 400, a portal or API request whose text breaks the one rule of
    core/textinput.py: in its path or query (one line), its form fields or JSON strings
    (multi-line text allowed), or whose form or query is not valid UTF-8 (Django would turn the
    bytes into U+FFFD and save that). Line breaks in form fields arrive as LF. The webhooks'
    middleware list does not include it: what customers write is stored as they wrote it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = self._problem(request)
        if problem:
            return self._refuse(request, *problem)
        return self.get_response(request)

    def _problem(self, request) -> tuple[str, str] | None:
        """(field, message) of the first problem; field "__all__" when it is no field's."""
        where = first_unsafe(request.path_info, multiline=False)
        if where:
            return "__all__", _("The address holds a character the portal does not accept (%(char)s).") % {
                "char": where
            }
        query = request.META.get("QUERY_STRING", "")
        if not _is_utf8_form(query.encode("latin-1", "replace")):
            return "__all__", _("The address is not valid UTF-8.")
        problem = _first_in(request.GET, multiline=False)
        if problem or request.method not in ("POST", "PUT", "PATCH"):
            return problem
        content_type = request.content_type or ""
        if content_type == "application/x-www-form-urlencoded" and not _is_utf8_form(request.body):
            return "__all__", _("The form is not valid UTF-8.")
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            problem = _first_in(request.POST, multiline=True)
            if not problem:
                cleaned = request.POST.copy()
                for key, values in request.POST.lists():
                    cleaned.setlist(key, [normalise_newlines(value) for value in values])
                cleaned._mutable = False
                request.POST = cleaned
            return problem
        if content_type == "application/json":
            try:
                data = json.loads(request.body)
            except (UnicodeDecodeError, ValueError):
                return None  # the API answers malformed JSON itself
            for field, text in _strings(data, "__all__"):
                where = first_unsafe(text)
                if where:
                    return field, _("“%(field)s” holds a character the portal does not accept (%(char)s).") % {
                        "field": field,
                        "char": where,
                    }
        return None

    @staticmethod
    def _refuse(request, field: str, message: str) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            return JsonResponse({"detail": message, "errors": {field: [message]}}, status=400)
        # A page in the portal's layout and the reader's language (LocaleMiddleware ran), with
        # the signed-in person's menu: the sign-in middleware comes after this one.
        # (The landing pages' handler has no sessions: their reader is nobody signed in.)
        if not hasattr(request, "user"):
            request.user = (
                SimpleLazyObject(lambda: get_user(request)) if hasattr(request, "session") else AnonymousUser()
            )
        response = render(request, "400.html", {"message": message}, status=400)
        # Answered before the CSP middleware runs: the page carries the same policy.
        response["Content-Security-Policy"] = content_security_policy()
        return response


def _first_in(query, *, multiline: bool) -> tuple[str, str] | None:
    for key, values in query.lists():
        for value in [key, *values]:
            where = first_unsafe(value, multiline=multiline)
            if where:
                message = _("“%(field)s” holds a character the portal does not accept (%(char)s).")
                return key, message % {"field": key, "char": where}
    return None


def _is_utf8_form(body: bytes) -> bool:
    try:
        for part in body.split(b"&"):
            unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _strings(data, field: str):
    """(top-level field, string) for every string of a JSON document, keys included."""
    if isinstance(data, str):
        yield field, data
    elif isinstance(data, dict):
        for key, value in data.items():
            name = str(key) if field == "__all__" else field
            yield name, str(key)
            yield from _strings(value, name)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value, field)


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SecurityEventMiddleware:
    """Refusals seen from outside become security events (audit/services.py rate-limits them):
    a failed sign-in and a lockout (as django-axes marked the request), a 403 to a write, a
    webhook refused (401/403), an API request whose token was rejected (401 with an
    Authorization header)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        kind = self._kind(request, response.status_code)
        if kind:
            detail = {"status": response.status_code, "method": request.method, "path": request.path[:200]}
            if kind in ("login_failed", "lockout"):
                credentials = getattr(request, "axes_credentials", None) or request.POST
                detail["username"] = str(credentials.get("username") or "")[:150]
            record_security_event(
                kind=kind, source=client_ip(request), detail=detail, actor=getattr(request, "user", None)
            )
        return response

    @staticmethod
    def _kind(request, status: int) -> str | None:
        # django-axes sets these on the request it judged (axes/handlers): locked out, or one
        # more failure counted.
        if getattr(request, "axes_locked_out", False):
            return "lockout"
        if getattr(request, "axes_failures_since_start", None):
            return "login_failed"
        if status not in (401, 403):
            return None
        if request.path.startswith("/hooks/"):
            return "webhook_refused"
        if status == 401 and request.path.startswith("/api/") and "HTTP_AUTHORIZATION" in request.META:
            return "token_rejected"
        if status == 403 and request.method in WRITE_METHODS:
            return "forbidden_write"
        return None


# An id a proxy in front already gave the request is kept if it looks like one.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


class RequestIdMiddleware:
    """Gives each request an id (the proxy's X-Request-ID if sane, else a new one), puts it on
    every log line written while the request is served, and answers it in X-Request-ID."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        with log_context(request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
