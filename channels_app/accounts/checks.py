"""Checks of sign-in: single sign-on and password sign-in settings (dusk.E2xx / W2xx), and the
proxy count behind which sign-in lockouts are per client (dusk.W101, deploy)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from channels_app.core.client_ip import forwarded_seen_marker
from channels_app.core.sso import parse_role_groups

# DUSK_* variable -> the setting it fills.
OIDC_REQUIRED = {
    "DUSK_OIDC_CLIENT_SECRET": "OIDC_RP_CLIENT_SECRET",
    "DUSK_OIDC_AUTHORIZATION_ENDPOINT": "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "DUSK_OIDC_TOKEN_ENDPOINT": "OIDC_OP_TOKEN_ENDPOINT",
    "DUSK_OIDC_USERINFO_ENDPOINT": "OIDC_OP_USER_ENDPOINT",
    "DUSK_OIDC_JWKS_ENDPOINT": "OIDC_OP_JWKS_ENDPOINT",
}
OIDC_URLS = {
    **{name: setting for name, setting in OIDC_REQUIRED.items() if name.endswith("_ENDPOINT")},
    "DUSK_OIDC_END_SESSION_ENDPOINT": "DUSK_OIDC_END_SESSION_ENDPOINT",
}


@register(Tags.security)
def check_sso(app_configs, **kwargs):
    problems = []
    try:
        mapping = parse_role_groups(settings.DUSK_OIDC_ROLE_GROUPS)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="dusk.E203")]
    if not settings.DUSK_OIDC_CLIENT_ID:
        if not settings.DUSK_LOCAL_LOGIN:
            problems.append(
                Warning(
                    "DUSK_LOCAL_LOGIN=0 without single sign-on (DUSK_OIDC_CLIENT_ID): nobody can sign in to the portal.",
                    id="dusk.W202",
                )
            )
        return problems
    missing = [name for name, setting in OIDC_REQUIRED.items() if not getattr(settings, setting, "")]
    if missing:
        problems.append(
            Error(f"Single sign-on is on (DUSK_OIDC_CLIENT_ID) but {', '.join(missing)} is not set.", id="dusk.E204")
        )
    if not mapping:
        problems.append(
            Error(
                "Single sign-on is on but DUSK_OIDC_ROLE_GROUPS maps no group to a role: everyone would be refused.",
                id="dusk.E205",
            )
        )
    return problems


@register(Tags.security, deploy=True)
def check_sso_deploy(app_configs, **kwargs):
    if not settings.DUSK_OIDC_CLIENT_ID:
        return []
    plain = [
        name
        for name, setting in OIDC_URLS.items()
        if urlsplit(getattr(settings, setting, "") or "https:").scheme != "https"
    ]
    if plain:
        return [
            Error(
                f"Single sign-on endpoints must use https in production: {', '.join(plain)}.",
                id="dusk.E206",
            )
        ]
    if not urlsplit(settings.DUSK_OIDC_END_SESSION_ENDPOINT).netloc:
        return [
            Warning(
                "DUSK_OIDC_END_SESSION_ENDPOINT is not set: signing out of Dusk leaves the provider's session open.",
                id="dusk.W203",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_proxy_count(app_configs=None, **kwargs) -> list[CheckMessage]:
    if settings.DUSK_PROXY_COUNT > 0 or not forwarded_seen_marker().exists():
        return []
    return [
        Warning(
            "Requests with a forwarded header (X-Forwarded-For) reached the portal while DUSK_PROXY_COUNT is 0.",
            hint=(
                "Behind a reverse proxy every client has the proxy's address, so one sign-in lockout locks "
                f"everyone out: set DUSK_PROXY_COUNT to the number of proxies, then delete {forwarded_seen_marker()}."
            ),
            id="dusk.W101",
        )
    ]
