"""The Content-Security-Policy every response carries."""

from django.conf import settings

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
