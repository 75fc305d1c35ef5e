"""A form's CSRF token made as Django's `get_token` makes it, from one read of the operating
system's random source instead of 64 calls of `secrets.choice`: the same secret (32 characters
of CSRF_ALLOWED_CHARS, kept in request.META["CSRF_COOKIE"] for CsrfViewMiddleware to set as the
cookie, the client's own when it sent one), the same masked token (a new mask of 32 characters,
then the secret shifted by it), checked by Django's CsrfViewMiddleware as any other. Django's
took 60 to 70 µs of CPU per token (two `get_random_string(32)`), as much as the rest of the
landing page's view; this one takes a few. tests/core/test_csrf.py holds it to Django's: a token
made here passes the middleware's check and unmasks to the secret the cookie carries."""

import secrets

from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH

_CHARS = CSRF_ALLOWED_CHARS
_INDEX = {ch: i for i, ch in enumerate(_CHARS)}
_N = len(_CHARS)
# A random byte below this, modulo 62, is any of the 62 characters with the same chance; the
# bytes at or above it (8 in 256) are dropped.
_UNBIASED = 256 - 256 % _N


def _random_indices(count: int) -> list[int]:
    out: list[int] = []
    while len(out) < count:
        out.extend(b % _N for b in secrets.token_bytes(count - len(out) + 8) if b < _UNBIASED)
    return out[:count]


def get_token(request) -> str:
    """django.middleware.csrf.get_token: the token for a form, with the secret the response's
    CSRF cookie will carry (a new one when the request brought none)."""
    meta = request.META
    secret = meta.get("CSRF_COOKIE")
    drawn = _random_indices(CSRF_SECRET_LENGTH if secret else 2 * CSRF_SECRET_LENGTH)
    mask = drawn[:CSRF_SECRET_LENGTH]
    if not secret:
        secret = "".join([_CHARS[i] for i in drawn[CSRF_SECRET_LENGTH:]])
        meta["CSRF_COOKIE"] = secret
    # As Django does when it hands out a token: the middleware sets (or renews) the cookie.
    meta["CSRF_COOKIE_NEEDS_UPDATE"] = True
    cipher = "".join([_CHARS[(_INDEX[ch] + m) % _N] for ch, m in zip(secret, mask, strict=True)])
    return "".join([_CHARS[m] for m in mask]) + cipher
