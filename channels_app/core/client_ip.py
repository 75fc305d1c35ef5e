"""The client's address, for the sign-in lockout.

Behind N trusted reverse proxies, each proxy appends the address it received
the request from to X-Forwarded-For, so the client is the N-th entry from the
right. Entries further left were written by the client and may be forged.
Without proxies (DUSK_PROXY_COUNT=0) the TCP peer is the client.

A forwarded header seen while DUSK_PROXY_COUNT is 0 means the portal is probably behind a proxy
it does not know of: every client then has the proxy's address, and one lockout locks everyone
out. It is noted in a file of the var directory (FORWARDED_SEEN), which the deploy check
dusk.W101 reports (accounts/checks.py), and logged once per process.
"""

import ipaddress
import logging
from pathlib import Path

from django.conf import settings

FORWARDED_SEEN = "forwarded-header-seen"
_FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")

log = logging.getLogger(__name__)
_noted = False


def forwarded_seen_marker() -> Path:
    return Path(settings.VAR_DIR) / FORWARDED_SEEN


def _note_forwarded_header() -> None:
    global _noted
    marker = forwarded_seen_marker()
    if _noted and marker.exists():
        return
    _noted = True
    log.warning("A forwarded header reached the portal while DUSK_PROXY_COUNT is 0: set it to the number of proxies.")
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        log.exception("cannot write %s", marker)


def client_ip(request) -> str | None:
    peer = request.META.get("REMOTE_ADDR") or None
    hops = settings.DUSK_PROXY_COUNT
    if hops <= 0:
        if any(request.META.get(header) for header in _FORWARDED_HEADERS):
            _note_forwarded_header()
        return peer
    chain = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(chain) < hops:
        # Fewer entries than proxies: the request did not come through all of them.
        return peer
    candidate = chain[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer
