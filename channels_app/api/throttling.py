"""Rate limits. Rates are read from settings on every request (not frozen at
import like DRF's defaults), so DUSK_API_RATE_* and test overrides apply."""

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class ApiUserThrottle(UserRateThrottle):
    """Per signed-in person (a token counts as its owner)."""

    scope = "dusk_user"

    def get_rate(self):
        return settings.DUSK_API_RATE_USER or None


class ApiAnonThrottle(AnonRateThrottle):
    """Per client address for requests without credentials."""

    scope = "dusk_anon"

    def get_rate(self):
        return settings.DUSK_API_RATE_ANON or None
