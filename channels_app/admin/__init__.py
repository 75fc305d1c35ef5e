"""Django's admin for Dusk: registered model admins (read-only where a service must write) and
the role-based site. Django's autodiscovery imports this package."""

from channels_app.admin import handoff, modeladmins, tokens  # noqa: F401  (registering is importing)
