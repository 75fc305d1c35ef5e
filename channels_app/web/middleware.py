"""What every response carries: the Content-Security-Policy, and the request's id."""

import re
import uuid

from django.conf import settings

from channels_app.core.logcontext import log_context

# No 'unsafe-inline', no 'unsafe-eval': every script and style is a file under
# /static/, htmx runs with allowEval and indicator styles off (see base.html).
STRICT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            policy = getattr(settings, "DUSK_CSP", STRICT_POLICY)
            report = getattr(settings, "DUSK_CSP_REPORT_URI", "/csp-report/")
            if report:
                policy = f"{policy}; report-uri {report}"
            response["Content-Security-Policy"] = policy
        return response


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
