"""The audit trail's keys: HMAC keys kept outside the database.

DUSK_AUDIT_KEYS is "kid1:secret1,kid2:secret2": the first key signs new events, the
others only verify the events they once signed (rotation: put the new key first and keep
the old ones for as long as their events are kept). Each event stores the id of the key
that signed it, never the key. Without DUSK_AUDIT_KEYS (development, tests) one key is
derived from SECRET_KEY under the id "dev"; production refuses that (check dusk.E201).
"""

import hashlib
import hmac
import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEV_KEY_ID = "dev"
KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
MIN_SECRET_LENGTH = 32


def parse_keys(entries: list[str]) -> dict[str, bytes]:
    """["kid:secret", ...] -> {kid: secret}, in the given order (the first is current)."""
    keys: dict[str, bytes] = {}
    for entry in entries:
        kid, sep, secret = entry.strip().partition(":")
        if not sep or not KEY_ID.match(kid) or not secret:
            raise ImproperlyConfigured(
                "DUSK_AUDIT_KEYS must be 'kid:secret' pairs separated by commas; a key id is 1-32 of A-Z a-z 0-9 _ . -"
            )
        if kid in keys:
            raise ImproperlyConfigured(f"DUSK_AUDIT_KEYS names the key id {kid!r} twice.")
        keys[kid] = secret.encode()
    return keys


def configured_keys() -> dict[str, bytes]:
    keys = parse_keys(settings.DUSK_AUDIT_KEYS)
    if not keys:
        derived = hmac.new(settings.SECRET_KEY.encode(), b"dusk-audit-chain", hashlib.sha256).digest()
        keys = {DEV_KEY_ID: derived}
    return keys


def current_key() -> tuple[str, bytes]:
    kid, secret = next(iter(configured_keys().items()))
    return kid, secret


def key_for(kid: str) -> bytes | None:
    return configured_keys().get(kid)


def sign(secret: bytes, payload: bytes) -> str:
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
