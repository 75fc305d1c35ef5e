"""Zendesk Support, through the Tickets API: a ticket whose requester is the customer, whose first
comment is their message and the moved conversation, and whose external_id is the reference.

- create: POST {base}/api/v2/tickets.json {"ticket": {"subject", "comment": {"body"},
  "requester": {"name", "email"}, "external_id", "tags"}} -> 201 {"ticket": {"id", ...}}
- find (before any resend): GET {base}/api/v2/tickets.json?external_id=<reference>
  -> {"tickets": [...]}
- authentication: HTTP Basic, "<agent email>/token" and the API token; the credential variable
  holds "<agent email>/token:<API token>".
"""

from __future__ import annotations

import httpx

from channels_app.handoff.adapters import DestinationError, Handoff, call

TAG = "dusk_handoff"


def _auth(credential: str) -> tuple[str, str]:
    user, _sep, token = credential.rpartition(":")
    if not user.endswith("/token") or not token:
        raise DestinationError("the Zendesk credential must read <agent email>/token:<API token>", retry=False)
    return user, token


def _base(url: str) -> str:
    return url.rstrip("/")


def send(client: httpx.Client, url: str, credential: str, handoff: Handoff) -> str:
    body = {
        "ticket": {
            "subject": f"{handoff.reference}: support request moved from {handoff.platform}",
            "comment": {"body": handoff.body_text()},
            "requester": {"name": handoff.name, "email": handoff.email},
            "external_id": handoff.reference,
            "tags": [TAG],
        }
    }
    response = call(
        client, "Zendesk create ticket", "POST", f"{_base(url)}/api/v2/tickets.json", json=body, auth=_auth(credential)
    )
    try:
        return str(response.json()["ticket"]["id"])
    except (ValueError, KeyError, TypeError):
        raise DestinationError("Zendesk create ticket: an answer without ticket.id", retry=False) from None


def find(client: httpx.Client, url: str, credential: str, handoff: Handoff) -> str | None:
    response = call(
        client,
        "Zendesk find ticket",
        "GET",
        f"{_base(url)}/api/v2/tickets.json",
        params={"external_id": handoff.reference},
        auth=_auth(credential),
    )
    try:
        tickets = response.json().get("tickets") or []
    except (ValueError, AttributeError):
        raise DestinationError("Zendesk find ticket: an answer that is not JSON", retry=True) from None
    ours = [t for t in tickets if TAG in (t.get("tags") or []) and t.get("external_id") == handoff.reference]
    return str(ours[0]["id"]) if ours else None
