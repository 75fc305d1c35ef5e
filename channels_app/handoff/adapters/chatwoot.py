"""Chatwoot, through its Application API: the customer as a contact (found by email, else
created in the inbox), a conversation in the inbox whose custom attributes carry the reference
and the delivery's id, and the customer's message with the moved conversation posted in it as a
private note (agents read it; nothing is sent to the customer).

The destination URL names the account and the inbox:
`https://<host>/api/v1/accounts/<account id>/inboxes/<inbox id>` (or the dashboard's
`https://<host>/app/accounts/<account id>/inbox/<inbox id>`). Calls, all under
`{host}/api/v1/accounts/<account id>` with the header `api_access_token: <user access token>`
(the credential variable holds the token):

- contact: GET /contacts/search?q=<email> -> {"meta", "payload": [{"id", "email", ...}]};
  else POST /contacts {"inbox_id", "name", "email"} -> {"payload": {"contact": {"id", ...},
  "contact_inbox": {"source_id", ...}}}
- an existing contact's source id in the inbox: POST /contacts/<id>/contact_inboxes
  {"inbox_id"} -> {"source_id", ...}
- conversation: POST /conversations {"source_id", "inbox_id", "contact_id", "status": "open",
  "custom_attributes": {"dusk_reference", "dusk_handoff"}} -> {"id", ...}
- the note: POST /conversations/<id>/messages {"content", "message_type": "outgoing",
  "private": true, "content_type": "text"} -> {"id", ...}
- look-up (before creating anything, and before any resend): GET /contacts/<id>/conversations
  -> {"payload": [{"id", "custom_attributes", ...}]}, then GET /conversations/<id>/messages
  -> {"meta", "payload": [{"content", ...}]} for the note (it ends with the delivery's id).

Every step looks up before it creates, so a retry after a lost answer or a failure between two
steps finishes the same conversation instead of opening a second one.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from channels_app.handoff.adapters import DestinationError, Handoff, call, json_of

TARGET = re.compile(
    r"^(?P<host>https?://[^/]+)/(?:api/v1|app)/accounts/(?P<account>\d+)/inbox(?:es)?/(?P<inbox>\d+)/?$"
)


def target(url: str) -> tuple[str, int]:
    """The account's API root and the inbox id named by a destination URL."""
    match = TARGET.match(url.strip())
    if match is None:
        raise DestinationError(
            "the Chatwoot URL must read https://<host>/api/v1/accounts/<account id>/inboxes/<inbox id>", retry=False
        )
    return f"{match['host']}/api/v1/accounts/{match['account']}", int(match["inbox"])


def _headers(credential: str) -> dict[str, str]:
    token = credential.strip()
    if not token:
        raise DestinationError("the Chatwoot credential must be a user access token", retry=False)
    return {"api_access_token": token}


def _payload(response: httpx.Response, what: str) -> Any:
    answer = json_of(response, what)
    if not isinstance(answer, dict):
        raise DestinationError(f"{what}: an answer without payload", retry=False)
    return answer.get("payload")


def _marker(handoff: Handoff) -> str:
    return f"(Dusk hand-off {handoff.delivery_id})"


class _Session:
    def __init__(self, client: httpx.Client, url: str, credential: str, handoff: Handoff):
        self.client, self.handoff = client, handoff
        self.api, self.inbox = target(url)
        self.headers = _headers(credential)

    def request(self, what: str, method: str, path: str, **kwargs) -> httpx.Response:
        return call(
            self.client, f"Chatwoot {what}", method, self.api + path, headers=self.headers, explain=True, **kwargs
        )

    def find_contact(self) -> int | None:
        what = "search contact"
        found = _payload(self.request(what, "GET", "/contacts/search", params={"q": self.handoff.email}), what)
        for contact in found if isinstance(found, list) else []:
            if isinstance(contact, dict) and str(contact.get("email") or "").lower() == self.handoff.email.lower():
                return int(contact["id"])
        return None

    def create_contact(self) -> tuple[int, str]:
        what = "create contact"
        body = {"inbox_id": self.inbox, "name": self.handoff.name, "email": self.handoff.email}
        payload = _payload(self.request(what, "POST", "/contacts", json=body), what)
        try:
            return int(payload["contact"]["id"]), str(payload["contact_inbox"]["source_id"])
        except (KeyError, TypeError, ValueError):
            raise DestinationError(f"Chatwoot {what}: an answer without contact and source_id", retry=False) from None

    def source_id(self, contact_id: int) -> str:
        what = "create contact inbox"
        response = self.request(what, "POST", f"/contacts/{contact_id}/contact_inboxes", json={"inbox_id": self.inbox})
        answer = json_of(response, f"Chatwoot {what}")
        if not isinstance(answer, dict) or not answer.get("source_id"):
            raise DestinationError(f"Chatwoot {what}: an answer without source_id", retry=False)
        return str(answer["source_id"])

    def ours(self, contact_id: int) -> int | None:
        what = "list conversations"
        found = _payload(self.request(what, "GET", f"/contacts/{contact_id}/conversations"), what)
        for conversation in found if isinstance(found, list) else []:
            attributes = conversation.get("custom_attributes") if isinstance(conversation, dict) else None
            if isinstance(attributes, dict) and attributes.get("dusk_handoff") == self.handoff.delivery_id:
                return int(conversation["id"])
        return None

    def create_conversation(self, contact_id: int, source_id: str) -> int:
        what = "create conversation"
        body = {
            "source_id": source_id,
            "inbox_id": self.inbox,
            "contact_id": contact_id,
            "status": "open",
            "custom_attributes": {"dusk_reference": self.handoff.reference, "dusk_handoff": self.handoff.delivery_id},
        }
        answer = json_of(self.request(what, "POST", "/conversations", json=body), f"Chatwoot {what}")
        if not isinstance(answer, dict) or "id" not in answer:
            raise DestinationError(f"Chatwoot {what}: an answer without id", retry=False)
        return int(answer["id"])

    def has_note(self, conversation_id: int) -> bool:
        what = "list messages"
        found = _payload(self.request(what, "GET", f"/conversations/{conversation_id}/messages"), what)
        marker = _marker(self.handoff)
        return any(isinstance(m, dict) and marker in str(m.get("content") or "") for m in found or [])

    def post_note(self, conversation_id: int) -> None:
        body = {
            "content": f"{self.handoff.body_text()}\n\n{_marker(self.handoff)}",
            "message_type": "outgoing",
            "private": True,
            "content_type": "text",
        }
        self.request("post message", "POST", f"/conversations/{conversation_id}/messages", json=body)


def send(client: httpx.Client, url: str, credential: str, handoff: Handoff) -> str:
    session = _Session(client, url, credential, handoff)
    contact_id = session.find_contact()
    source_id = None
    if contact_id is None:
        try:
            contact_id, source_id = session.create_contact()
        except DestinationError as exc:
            # Another hand-off for the same address created the contact since the search (Chatwoot
            # answers 422, the email is taken): use that one.
            contact_id = session.find_contact() if "HTTP 422" in str(exc) else None
            if contact_id is None:
                raise
    # A contact just created has no conversation yet; a found one may hold an earlier attempt's.
    conversation_id = session.ours(contact_id) if source_id is None else None
    if conversation_id is None:
        source_id = source_id or session.source_id(contact_id)
        conversation_id = session.create_conversation(contact_id, source_id)
        session.post_note(conversation_id)
    elif not session.has_note(conversation_id):
        session.post_note(conversation_id)
    return str(conversation_id)


def find(client: httpx.Client, url: str, credential: str, handoff: Handoff) -> str | None:
    """The conversation of an earlier attempt, when it holds the note; else None (and `send`
    finishes whatever the earlier attempt left undone)."""
    session = _Session(client, url, credential, handoff)
    contact_id = session.find_contact()
    conversation_id = session.ours(contact_id) if contact_id is not None else None
    if conversation_id is None or not session.has_note(conversation_id):
        return None
    return str(conversation_id)
