"""Destination systems a contact request is handed off to, one module each behind the same two
calls: `send` (returns the destination's id for it) and `find` (the id of one sent before, when
the destination can be asked; None otherwise). No Django, no ORM: the services pass an httpx
client whose transport only reaches allowed hosts, the credential's value and a `Handoff`."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol

import httpx

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True)
class Handoff:
    delivery_id: str  # stable across attempts: the idempotency key
    reference: str
    platform: str
    name: str
    email: str
    message: str
    transcript: str

    def body_text(self) -> str:
        """The customer's message, then the moved conversation."""
        return (
            f"{self.message}\n\n"
            f"--- Conversation moved from {self.platform}, reference {self.reference} ---\n"
            f"{self.transcript or '(no messages)'}"
        )


class DestinationError(Exception):
    """The destination did not take it. `retry`: worth another attempt (after `retry_after`
    seconds at the earliest, when it said so); `in_doubt`: it may have it anyway."""

    def __init__(self, message: str, *, retry: bool, retry_after: float | None = None, in_doubt: bool = False):
        super().__init__(message)
        self.retry = retry
        self.retry_after = retry_after
        self.in_doubt = in_doubt


class Destination(Protocol):
    def send(self, client: httpx.Client, url: str, credential: str, handoff: Handoff) -> str: ...

    def find(self, client: httpx.Client, url: str, credential: str, handoff: Handoff) -> str | None: ...


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), or None."""
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        from datetime import UTC, datetime

        return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


# The longest vendor message kept with an error (it is shown to managers on the Hand-offs page).
VENDOR_MESSAGE_MAX = 200


def vendor_message(response: httpx.Response, keys: tuple[str, ...] = ("message", "description", "error")) -> str:
    """The destination's own short explanation of a refusal, when its JSON body has one: the first
    string under `keys`, then the first `errors[].message` (with its field). One line, bounded, so
    a body can neither flood the page nor carry markup into it (templates escape it anyway)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [body[key] for key in keys if isinstance(body.get(key), str) and body[key].strip()][:1]
    errors = body.get("errors")
    if isinstance(errors, list):
        for error in errors[:3]:
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                field = error.get("field")
                parts.append(f"{field}: {error['message']}" if isinstance(field, str) and field else error["message"])
            elif isinstance(error, str):
                parts.append(error)
    elif isinstance(errors, dict):  # {"field": ["message", ...]}
        for field, messages in list(errors.items())[:3]:
            if isinstance(messages, list) and messages and isinstance(messages[0], str):
                parts.append(f"{field}: {messages[0]}")
    text = " ".join("; ".join(parts).split())
    return text[:VENDOR_MESSAGE_MAX]


def check(response: httpx.Response, what: str, *, explain: bool = False) -> None:
    """DestinationError unless the answer is a success: 408, 429 and 5xx are worth retrying. With
    `explain`, a refusal carries the destination's own message (see `vendor_message`)."""
    if response.is_success:
        return
    status = response.status_code
    retry = status in (408, 429) or status >= 500
    message = f"{what}: HTTP {status}"
    explanation = vendor_message(response) if explain and not retry else ""
    if explanation:
        message += f" ({explanation})"
    raise DestinationError(message, retry=retry, retry_after=retry_after(response.headers))


def call(client: httpx.Client, what: str, method: str, url: str, *, explain: bool = False, **kwargs) -> httpx.Response:
    """One request; a transport error becomes a DestinationError, in doubt when the request may
    have reached the destination (it was sent and no answer came)."""
    try:
        response = client.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise DestinationError(f"{what}: {type(exc).__name__}", retry=True) from None
    except httpx.HTTPError as exc:
        raise DestinationError(f"{what}: {type(exc).__name__}", retry=True, in_doubt=method != "GET") from None
    check(response, what, explain=explain)
    return response


def json_of(response: httpx.Response, what: str) -> Any:
    """The answer's JSON; an answer that is not JSON is worth another attempt (a proxy's page)."""
    try:
        return response.json()
    except ValueError:
        raise DestinationError(f"{what}: an answer that is not JSON", retry=True) from None


def registry() -> dict[str, Destination]:
    from channels_app.handoff.adapters import chatwoot, freshdesk, webhook, zendesk

    return {"zendesk": zendesk, "freshdesk": freshdesk, "chatwoot": chatwoot, "webhook": webhook}  # type: ignore[dict-item]
