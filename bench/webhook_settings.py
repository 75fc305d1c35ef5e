"""Settings for bench/webhook.py only: the project's settings plus a bare view to compare with."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "webhook_urls"
