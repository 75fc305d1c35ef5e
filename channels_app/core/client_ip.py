"""The client's address, for the sign-in lockout.

Behind N trusted reverse proxies, each proxy appends the address it received
the request from to X-Forwarded-For, so the client is the N-th entry from the
right. Entries further left were written by the client and may be forged.
Without proxies (DUSK_PROXY_COUNT=0) the TCP peer is the client.
"""

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    peer = request.META.get("REMOTE_ADDR") or None
    hops = settings.DUSK_PROXY_COUNT
    if hops <= 0:
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
