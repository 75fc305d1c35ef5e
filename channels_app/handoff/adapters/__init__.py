"""Destination systems a contact request is handed off to, one module each behind the same two
calls: `send` (returns the destination's id for it) and `find` (the id of one sent before, when
the destination can be asked; None otherwise). No Django, no ORM: the services pass an httpx
client whose transport only reaches allowed hosts, the credential's value and a `Handoff`."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Protocol

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


def check(response: httpx.Response, what: str) -> None:
    """DestinationError unless the answer is a success: 408, 429 and 5xx are worth retrying."""
    if response.is_success:
        return
    status = response.status_code
    retry = status in (408, 429) or status >= 500
    raise DestinationError(f"{what}: HTTP {status}", retry=retry, retry_after=retry_after(response.headers))


def call(client: httpx.Client, what: str, method: str, url: str, **kwargs) -> httpx.Response:
    """One request; a transport error becomes a DestinationError, in doubt when the request may
    have reached the destination (it was sent and no answer came)."""
    try:
        response = client.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise DestinationError(f"{what}: {type(exc).__name__}", retry=True) from None
    except httpx.HTTPError as exc:
        raise DestinationError(f"{what}: {type(exc).__name__}", retry=True, in_doubt=method != "GET") from None
    check(response, what)
    return response


def registry() -> dict[str, Destination]:
    from channels_app.handoff.adapters import webhook, zendesk

    return {"zendesk": zendesk, "webhook": webhook}  # type: ignore[dict-item]
