"""Deploy checks of sign-in (registered in apps.py)."""

from django.conf import settings
from django.core import checks

from channels_app.core.client_ip import forwarded_seen_marker


@checks.register(checks.Tags.security, deploy=True)
def check_proxy_count(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if settings.DUSK_PROXY_COUNT > 0 or not forwarded_seen_marker().exists():
        return []
    return [
        checks.Warning(
            "Requests with a forwarded header (X-Forwarded-For) reached the portal while DUSK_PROXY_COUNT is 0.",
            hint=(
                "Behind a reverse proxy every client has the proxy's address, so one sign-in lockout locks "
                f"everyone out: set DUSK_PROXY_COUNT to the number of proxies, then delete {forwarded_seen_marker()}."
            ),
            id="dusk.W101",
        )
    ]
