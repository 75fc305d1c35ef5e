"""People's accounts: API tokens (create, the secret returned once; revoke; resolve a
presented token; only a SHA-256 digest of the secret is stored), profile, password change,
and the person behind a single sign-on."""

import hashlib
import hmac
import secrets
import string
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_app.audit.services import record_event
from channels_app.core.errors import InvalidTransition
from channels_app.core.permissions import ADMIN, ROLES, ensure_roles, has_role, require
from channels_app.core.zones import unknown_zone_message, zone_names
from channels_app.models import ApiToken, TokenScope, UserProfile

TOKEN_PREFIX = "dusk"
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
# Writing last_used_at on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_LIFETIME = timedelta(days=366)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_prefix() -> str:
    return "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(10))


def parse_token(raw: str) -> tuple[str, str] | None:
    """`dusk_<prefix>_<secret>` -> (prefix, secret), or None if it is not shaped like one."""
    parts = (raw or "").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or len(parts[2]) < 20:
        return None
    return parts[1], parts[2]


@transaction.atomic
def create_api_token(
    *,
    actor,
    name: str,
    scopes: Sequence[str],
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token owned by actor; returns (token, the full token string).
    The string is not stored anywhere: show it once."""
    require(actor, "use_api_tokens")
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("Give the token a name that says where it is used.")]
    elif len(name) > 100:
        errors["name"] = [_("Keep the name under 100 characters.")]
    elif ApiToken.objects.filter(owner=actor, name=name, revoked_at__isnull=True).exists():
        errors["name"] = [
            _("You already have a token named “%(name)s”; revoke it or choose another name.") % {"name": name}
        ]
    cleaned = sorted(set(scopes or []))
    unknown = [s for s in cleaned if s not in TokenScope.values]
    if not cleaned:
        errors["scopes"] = [_("Choose at least one scope: %(scopes)s.") % {"scopes": ", ".join(TokenScope.values)}]
    elif unknown:
        message = ngettext(
            "Unknown scope %(unknown)s; use %(scopes)s.", "Unknown scopes %(unknown)s; use %(scopes)s.", len(unknown)
        )
        errors["scopes"] = [message % {"unknown": ", ".join(unknown), "scopes": ", ".join(TokenScope.values)}]
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            errors["expires_at"] = [_("Give the expiry with a time zone (for example 2030-01-01T00:00:00Z).")]
        elif expires_at <= now:
            errors["expires_at"] = [_("The expiry must be in the future.")]
        elif expires_at > now + MAX_LIFETIME:
            errors["expires_at"] = [_("A token may live at most one year; create a new one when it expires.")]
    if errors:
        raise ValidationError(errors)
    secret = secrets.token_urlsafe(32)
    for _attempt in range(5):
        prefix = _new_prefix()
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    owner=actor,
                    name=name,
                    prefix=prefix,
                    secret_hash=_digest(secret),
                    scopes=cleaned,
                    created_at=now,
                    expires_at=expires_at,
                )
            break
        except IntegrityError:
            if ApiToken.objects.filter(owner=actor, name=name, revoked_at__isnull=True).exists():
                raise ValidationError(
                    {"name": [_("You already have a token named “%(name)s”.") % {"name": name}]}
                ) from None
    else:  # pragma: no cover - ten random characters collided five times
        raise RuntimeError("could not allocate a token prefix")
    record_event(
        actor=actor,
        action="api_token.created",
        obj=token,
        after={"name": name, "prefix": prefix, "scopes": cleaned, "expires_at": expires_at},
    )
    return token, f"{TOKEN_PREFIX}_{prefix}_{secret}"


@transaction.atomic
def revoke_api_token(*, actor, token: ApiToken | int, now: datetime | None = None) -> ApiToken:
    """Revoke a token: its owner may, and the admin role may revoke anyone's."""
    require(actor, "use_api_tokens")
    token_id = token.pk if isinstance(token, ApiToken) else token
    token = ApiToken.objects.select_for_update().get(pk=token_id)
    if token.owner_id != actor.pk and not has_role(actor, ADMIN):
        raise PermissionDenied(_("Only the token's owner or an admin can revoke it."))
    if token.revoked_at is not None:
        raise InvalidTransition(_("The token “%(name)s” is already revoked.") % {"name": token.name})
    token.revoked_at = now or timezone.now()
    token.save(update_fields=["revoked_at"])
    record_event(
        actor=actor,
        action="api_token.revoked",
        obj=token,
        before={"revoked_at": None},
        after={"name": token.name, "prefix": token.prefix, "owner": token.owner_id, "revoked_at": token.revoked_at},
    )
    return token


def find_api_token(raw: str, *, now: datetime | None = None) -> tuple[ApiToken | None, str]:
    """Resolve a presented token. Returns (token, "") or (None, reason)."""
    parsed = parse_token(raw)
    if parsed is None:
        return None, _("Malformed token: expected dusk_<prefix>_<secret>.")
    prefix, secret = parsed
    token = ApiToken.objects.select_related("owner").filter(prefix=prefix).first()
    # Compare digests in constant time; compare against a dummy when the prefix is
    # unknown so timing does not reveal which prefixes exist.
    expected = token.secret_hash if token is not None else _digest("")
    if not hmac.compare_digest(_digest(secret), expected) or token is None:
        return None, _("Invalid token.")
    if token.revoked_at is not None:
        return None, _("This token was revoked.")
    if token.is_expired(now):
        return None, _("This token has expired.")
    if not token.owner.is_active:
        return None, _("The token's owner is deactivated.")
    return token, ""


def note_token_use(*, token: ApiToken, now: datetime | None = None) -> None:
    """Record when a token was last used, at most once a minute (a conditional
    UPDATE, so concurrent requests do not queue on the row). Not audited."""
    now = now or timezone.now()
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).exclude(last_used_at__gte=now - LAST_USED_RESOLUTION).update(
            last_used_at=now
        )


@transaction.atomic
def update_profile(*, actor, time_zone: str, language: str | None = None) -> UserProfile:
    """Set the person's time zone and, when given, the language of the emails Dusk sends them
    ("" for the portal's default)."""
    require(actor, "view")
    if time_zone not in zone_names():
        raise ValidationError({"time_zone": [unknown_zone_message(time_zone)]})
    if language is not None and language not in {"", *dict(settings.LANGUAGES)}:
        raise ValidationError({"language": [_("Choose one of the portal's languages.")]})
    profile, _created = UserProfile.objects.select_for_update().get_or_create(user=actor)
    before = {"time_zone": profile.time_zone, "language": profile.language}
    profile.time_zone = time_zone
    if language is not None:
        profile.language = language
    profile.save(update_fields=["time_zone", "language", "updated_at"])
    record_event(
        actor=actor,
        action="profile.updated",
        obj=profile,
        before=before,
        after={"time_zone": time_zone, "language": profile.language},
    )
    return profile


# --- single sign-on -----------------------------------------------------------------------------


class SsoRefused(Exception):
    """The identity provider vouched for someone Dusk will not sign in (see the message)."""


def sync_sso_person(*, subject: str, username: str, email: str, roles: set[str]):
    """Find or create the person the identity provider calls `subject`, and make their roles
    exactly `roles` (other groups are kept); someone with no role is deactivated, someone
    deactivated that way gets back in once a group maps to a role again. Recorded in the audit
    trail when anything changed. Refuses (SsoRefused) a user name held by a local person, so the
    provider cannot hand out an existing account."""
    user_model = get_user_model()
    ensure_roles()
    with transaction.atomic():
        profile = UserProfile.objects.select_related("user").select_for_update().filter(oidc_subject=subject).first()
        created = profile is None
        if created:
            username = (username or subject)[:150]
            if user_model.objects.filter(username__iexact=username).exists():
                raise SsoRefused(f"the user name {username!r} belongs to a person who signs in with a password")
            user = user_model.objects.create_user(username=username, email=email or "")  # unusable password
            profile, _created = UserProfile.objects.get_or_create(user=user)
            profile.oidc_subject = subject
            profile.save(update_fields=["oidc_subject", "updated_at"])
        user = profile.user
        before_roles = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        before = {"roles": sorted(before_roles), "active": user.is_active, "email": user.email}
        user.groups.remove(*Group.objects.filter(name__in=before_roles - roles))
        user.groups.add(*Group.objects.filter(name__in=roles - before_roles))
        user.is_active = bool(roles)
        user.email = email or user.email
        user.save(update_fields=["is_active", "email"])
        after = {"roles": sorted(roles), "active": user.is_active, "email": user.email}
        if created or before != after:
            record_event(
                actor=None,
                actor_label="sso",
                action="user.sso_created" if created else "user.sso_updated",
                obj=user,
                before=None if created else before,
                after=after,
            )
    return user


def change_password(*, actor, new_password: str) -> None:
    """A local person sets a new password (the form checked the old one and the validators)."""
    with transaction.atomic():
        person = get_user_model().objects.select_for_update().get(pk=actor.pk)
        person.set_password(new_password)
        person.save(update_fields=["password"])
        record_event(actor=person, action="user.password_changed", obj=person)
    actor.password = person.password  # the caller keeps its session with the new hash
