"""The Content-Security-Policy every response carries; refusals recorded as security events."""

from urllib.parse import urlsplit

from django.conf import settings

from channels_app.audit.services import record_security_event
from channels_app.core.client_ip import client_ip

# No 'unsafe-inline', no 'unsafe-eval': every script and style is a file under
# /static/, htmx runs with allowEval and indicator styles off (see base.html).
STRICT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            policy = getattr(settings, "DUSK_CSP", STRICT_POLICY)
            provider = _origin(settings.DUSK_OIDC_END_SESSION_ENDPOINT)
            if provider:
                # Signing out is a form whose answer redirects to the identity provider's
                # end-session page; form-action covers that redirect.
                policy = policy.replace("form-action 'self'", f"form-action 'self' {provider}")
            report = getattr(settings, "DUSK_CSP_REPORT_URI", "/csp-report/")
            if report:
                policy = f"{policy}; report-uri {report}"
            response["Content-Security-Policy"] = policy
        return response


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
