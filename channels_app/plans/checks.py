"""Deploy checks of plans (registered in apps.py)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def check_notify_webhook_url(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    url = settings.DUSK_NOTIFY_WEBHOOK_URL
    if not (settings.DUSK_PRODUCTION and url) or urlsplit(url).scheme.lower() == "https":
        return []
    return [
        checks.Error(
            "DUSK_NOTIFY_WEBHOOK_URL is not an https URL in production.",
            hint=(
                "The webhook URL is a secret and the posts name plans and people: over plain http anyone on "
                "the way reads both. Use the https URL the receiving service gives (Slack and Teams do)."
            ),
            id="dusk.E601",
        )
    ]
