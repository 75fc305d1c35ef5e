import zoneinfo

from django.utils import timezone

SESSION_TZ_KEY = "dusk_time_zone"


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
                from channels_app.models import UserProfile

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
