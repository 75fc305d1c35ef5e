"""Authentication backends: Django's, plus the admin role acting as superuser for Django
permissions (the admin site), as the role matrix says; and single sign-on (OpenID Connect)."""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from channels_app.accounts.services import SsoRefused, sync_sso_person
from channels_app.core.permissions import ADMIN, has_role
from channels_app.core.sso import parse_role_groups, roles_for_groups


class RoleModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        # DUSK_LOCAL_LOGIN=0: no password opens a session (the sign-in form and the admin's
        # alike); SSO and API tokens do not come through here.
        if not settings.DUSK_LOCAL_LOGIN:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def has_perm(self, user_obj, perm, obj=None):
        if user_obj.is_active and has_role(user_obj, ADMIN):
            return True
        return super().has_perm(user_obj, perm, obj)

    def has_module_perms(self, user_obj, app_label):
        if user_obj.is_active and has_role(user_obj, ADMIN):
            return True
        return super().has_module_perms(user_obj, app_label)


class OidcBackend(OIDCAuthenticationBackend):
    """Single sign-on (mozilla-django-oidc's code flow, with PKCE): people are found by the
    provider's `sub`, and their roles are set from the groups claim at every sign-in
    (accounts/services.py: sync_sso_person). Someone the provider no longer puts in a mapped
    group is deactivated, so the sign-in is refused."""

    def authenticate(self, request, **kwargs):
        if "username" in kwargs or "password" in kwargs:
            return None  # a password sign-in is not this backend's business
        return super().authenticate(request, **kwargs)

    def verify_claims(self, claims):
        return isinstance(claims.get("sub"), str) and bool(claims["sub"])

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(dusk_profile__oidc_subject=claims["sub"])

    def describe_user_by_claims(self, claims):
        return f"subject {claims.get('sub')}"

    def create_user(self, claims):
        return self._sync(claims)

    def update_user(self, user, claims):
        return self._sync(claims)

    def _sync(self, claims):
        mapping = parse_role_groups(settings.DUSK_OIDC_ROLE_GROUPS)
        roles = roles_for_groups(claims.get(settings.DUSK_OIDC_GROUPS_CLAIM), mapping)
        username = claims.get("preferred_username") or claims.get("email") or claims["sub"]
        try:
            return sync_sso_person(
                subject=claims["sub"], username=str(username), email=claims.get("email") or "", roles=roles
            )
        except SsoRefused as exc:
            raise SuspiciousOperation(str(exc)) from exc
