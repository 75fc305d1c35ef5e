from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.contrib.auth.signals import user_login_failed
from django.core import checks

from channels_app.core import metrics
from channels_app.core.checks import check_publication_wait, check_shared_cache


class ChannelsAppConfig(AppConfig):
    name = "channels_app"
    verbose_name = "Dusk"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing a checks module registers its system checks (Django's documented place);
        # checks modules import core only.
        from channels_app.accounts import checks as accounts_checks  # noqa: F401
        from channels_app.audit import checks as audit_checks  # noqa: F401
        from channels_app.plans import checks as plans_checks  # noqa: F401
        from channels_app.platforms import checks as platforms_checks  # noqa: F401

        # Failed sign-ins are counted for /metrics in whichever process takes them.
        user_login_failed.connect(metrics.count_signin_failure, dispatch_uid="dusk-signin-failures")

        # Not a deploy-only check: a per-process cache on several nodes is wrong at any start.
        checks.register(check_shared_cache)
        checks.register(check_publication_wait)


class DuskAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with Dusk's site: entry by role, not by is_staff.
    Named in INSTALLED_APPS instead of django.contrib.admin."""

    default = False  # not this package's own app config

    default_site = "channels_app.accounts.admin_site.DuskAdminSite"
