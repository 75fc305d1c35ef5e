from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.core import checks

from channels_app.core.checks import check_shared_cache


class ChannelsAppConfig(AppConfig):
    name = "channels_app"
    verbose_name = "Dusk"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Not a deploy-only check: a per-process cache on several nodes is wrong at any start.
        checks.register(check_shared_cache)


class DuskAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with Dusk's site: entry by role, not by is_staff.
    Named in INSTALLED_APPS instead of django.contrib.admin."""

    default = False  # not this package's own app config

    default_site = "channels_app.accounts.admin_site.DuskAdminSite"
