"""Deploy checks of the audit trail's keys (ids dusk.E2xx / W2xx)."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from channels_app.core import audit_keys


@register(Tags.security, deploy=True)
def check_audit_keys(app_configs, **kwargs):
    try:
        keys = audit_keys.parse_keys(settings.DUSK_AUDIT_KEYS)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="dusk.E202")]
    if not keys:
        return [
            Error(
                "DUSK_AUDIT_KEYS is not set: the audit chain would be signed with a key derived from "
                "SECRET_KEY, which is not kept apart from the application.",
                hint='Set DUSK_AUDIT_KEYS="<id>:<random secret of 32+ characters>" (docs/sso-and-audit.md).',
                id="dusk.E201",
            )
        ]
    short = [kid for kid, secret in keys.items() if len(secret) < audit_keys.MIN_SECRET_LENGTH]
    if short:
        return [
            Warning(
                f"DUSK_AUDIT_KEYS: the secret of {', '.join(short)} is shorter than "
                f"{audit_keys.MIN_SECRET_LENGTH} characters.",
                id="dusk.W201",
            )
        ]
    return []
