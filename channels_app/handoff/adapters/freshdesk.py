"""Freshdesk, through the Tickets API v2: a ticket whose requester is the customer, whose
description is their message and the moved conversation, tagged with the reference.

- create: POST {base}/api/v2/tickets {"name", "email", "subject", "description" (HTML),
  "status": 2 (open), "priority": 1 (low), "source": 2 (portal), "tags": ["dusk_handoff",
  "<reference>"]} -> 201 {"id", "tags", ...}
- find (before any resend): GET {base}/api/v2/search/tickets?query="tag:'<reference>'" (the
  query in double quotes, a string value in single ones) -> {"results": [...], "total": n}
- authentication: HTTP Basic with the API key as user name and "X" as password; the credential
  variable holds the API key.
- a refusal: {"description": "Validation failed", "errors": [{"field", "message", "code"}]} or
  {"code", "message"} (401, 403); 429 carries Retry-After.

The reference rides in a tag rather than `unique_external_id`, which is the requester's
(contact's) external id in Freshdesk, not the ticket's. Known limit: search results lag behind
writes by up to a few minutes, so a resend within that lag after a lost answer may not find the
first ticket (the backoff makes it rare: the first resend is at least DUSK_HANDOFF_BACKOFF_BASE
seconds later).
"""

from __future__ import annotations

import html

import httpx

from channels_app.handoff.adapters import DestinationError, Handoff, call, json_of

TAG = "dusk_handoff"
STATUS_OPEN, PRIORITY_LOW, SOURCE_PORTAL = 2, 1, 2


def _auth(credential: str) -> tuple[str, str]:
    key = credential.strip()
    if not key or ":" in key:
        raise DestinationError("the Freshdesk credential must be the API key alone", retry=False)
    return key, "X"


def _base(url: str) -> str:
    return url.rstrip("/")


def description(handoff: Handoff) -> str:
    """The ticket's description is HTML: the text escaped, its lines kept."""
    return "<br>".join(html.escape(line) for line in handoff.body_text().split("\n"))


def send(client: httpx.Client, url: str, credential: str, handoff: Handoff) -> str:
    body = {
        "name": handoff.name,
        "email": handoff.email,
        "subject": f"{handoff.reference}: support request moved from {handoff.platform}",
        "description": description(handoff),
        "status": STATUS_OPEN,
        "priority": PRIORITY_LOW,
        "source": SOURCE_PORTAL,
        "tags": [TAG, handoff.reference],
    }
    what = "Freshdesk create ticket"
    response = call(
        client, what, "POST", f"{_base(url)}/api/v2/tickets", json=body, auth=_auth(credential), explain=True
    )
    ticket = json_of(response, what)
    if not isinstance(ticket, dict) or "id" not in ticket:
        raise DestinationError(f"{what}: an answer without id", retry=False)
    return str(ticket["id"])


def find(client: httpx.Client, url: str, credential: str, handoff: Handoff) -> str | None:
    what = "Freshdesk find ticket"
    response = call(
        client,
        what,
        "GET",
        f"{_base(url)}/api/v2/search/tickets",
        params={"query": f"\"tag:'{handoff.reference}'\""},
        auth=_auth(credential),
        explain=True,
    )
    answer = json_of(response, what)
    results = answer.get("results") if isinstance(answer, dict) else None
    ours = [
        t
        for t in results or []
        if isinstance(t, dict) and handoff.reference in (t.get("tags") or []) and TAG in (t.get("tags") or [])
    ]
    return str(ours[0]["id"]) if ours else None
