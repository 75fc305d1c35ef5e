"""Deploy checks of the platform edge (registered in apps.py)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def check_private_platform_hosts(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if not (settings.DUSK_PRODUCTION and settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS):
        return []
    return [
        checks.Error(
            "DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS is on in production.",
            hint=(
                "It lets a channel's API base URL or mailbox point at loopback and private addresses (the "
                "database, the cloud metadata service) and plain http: it is for development, the demo's "
                "sandbox and the tests. Unset it."
            ),
            id="dusk.E101",
        )
    ]
