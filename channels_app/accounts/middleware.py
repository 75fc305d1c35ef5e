"""Each signed-in person's time zone, active for their request only; sliding sessions."""

import time
import zoneinfo

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.utils import timezone

from channels_app.models import UserProfile

SESSION_TZ_KEY = "dusk_time_zone"


class UserTimeZoneMiddleware:
    """Activate the signed-in person's time zone (from their profile, cached in
    the session so a page costs no extra query) for the request, and only for it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = self._zone(request)
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

    @staticmethod
    def _zone(request) -> zoneinfo.ZoneInfo | None:
        """The person's zone, or None for the default (TIME_ZONE): nobody signed in, or a stored
        name this machine's zone database does not know (a zone removed since, a bad import)."""
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        name = request.session.get(SESSION_TZ_KEY)
        if name is None:
            name = UserProfile.objects.filter(user=user).values_list("time_zone", flat=True).first() or "UTC"
            request.session[SESSION_TZ_KEY] = name
        if not name:
            return None
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            # ValueError: a name that is not a relative key at all ("/etc/x", "../x").
            return None


SESSION_RENEWED_KEY = "dusk_renewed"


class SlidingSessionMiddleware:
    """Sessions end DUSK_SESSION_HOURS after the last request, not after sign-in: a signed-in
    person's session (and its cookie) is renewed by their requests, at most once every
    DUSK_SESSION_RENEW_SECONDS, so a page polled every second does not write a row each time."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and SESSION_KEY in session:
            now = int(time.time())
            if now - session.get(SESSION_RENEWED_KEY, 0) >= settings.DUSK_SESSION_RENEW_SECONDS:
                session[SESSION_RENEWED_KEY] = now  # modified: SessionMiddleware saves it with a new expiry
        return response
