"""Middleware for the browser portal: a strict Content-Security-Policy, and
each person's time zone."""

import zoneinfo

from django.conf import settings
from django.utils import timezone

# No 'unsafe-inline', no 'unsafe-eval': every script and style is a file under
# /static/, htmx runs with allowEval and indicator styles off (see base.html).
STRICT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)

SESSION_TZ_KEY = "dusk_time_zone"


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


class UserTimeZoneMiddleware:
    """Activate the signed-in person's time zone (from their profile, cached in
    the session so a page costs no extra query)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            name = request.session.get(SESSION_TZ_KEY)
            if name is None:
                from .models import UserProfile

                name = UserProfile.objects.filter(user=user).values_list("time_zone", flat=True).first() or "UTC"
                request.session[SESSION_TZ_KEY] = name
        try:
            if name:
                timezone.activate(zoneinfo.ZoneInfo(name))
            else:
                timezone.deactivate()
            return self.get_response(request)
        except zoneinfo.ZoneInfoNotFoundError:
            timezone.deactivate()
            return self.get_response(request)
        finally:
            timezone.deactivate()
