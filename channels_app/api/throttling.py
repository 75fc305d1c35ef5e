"""Rate limits. Rates are read from settings on every request (not frozen at
import like DRF's defaults), so DUSK_API_RATE_USER and test overrides apply.

Only signed-in requests are counted: every API endpoint needs credentials, and
DRF refuses a request without them (401) before it consults throttles. Tokens
are 256-bit random, so guessing one is not a matter of request rate."""

from django.conf import settings
from rest_framework.throttling import UserRateThrottle


class ApiUserThrottle(UserRateThrottle):
    """Per signed-in person (a token counts as its owner)."""

    scope = "dusk_user"

    def get_rate(self):
        return settings.DUSK_API_RATE_USER or None
