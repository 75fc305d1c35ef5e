"""Each signed-in person's time zone, active for their request only."""

import zoneinfo

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
