"""What every platform adapter shares: the normalised message, send results, errors, helpers.

Adapters do platform I/O only (verify, parse, send). They never touch the ORM: services decide
what to store, tasks decide when to send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

import httpx

# Applied per request, so a Client built without timeouts still never hangs a worker.
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


@dataclass(frozen=True)
class InboundMessage:
    platform_message_id: str
    thread_id: str
    customer_id: str
    customer_handle: str
    customer_name: str
    text: str
    lang: str | None  # the platform's own language field, when it has one
    created_at: datetime  # aware, UTC
    in_reply_to: str | None  # platform id of the message this one answers
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class SendResult:
    platform_id: str
    status_code: int
    retry_after: float | None = None
    permanent: bool = False
    error: str = ""


class AdapterError(Exception):
    pass


class SignatureError(AdapterError):
    """A webhook request whose signature or verify token does not check out: answer 403."""


class SendError(AdapterError):
    permanent = False

    def __init__(self, error: str, status_code: int = 0, retry_after: float | None = None):
        super().__init__(error)
        self.error = error
        self.status_code = status_code
        self.retry_after = retry_after

    @property
    def result(self) -> SendResult:
        """The failure as a SendResult, for the outbox to record the platform's answer."""
        return SendResult(
            platform_id="",
            status_code=self.status_code,
            retry_after=self.retry_after,
            permanent=self.permanent,
            error=self.error,
        )


class PermanentSendError(SendError):
    """Retrying will not help (bad request, revoked credentials, deleted target)."""

    permanent = True


class RetryableSendError(SendError):
    """Rate limited, platform down or network trouble: retry, not before retry_after seconds."""

    def __init__(self, retry_after: float | None = None, error: str = "", status_code: int = 0):
        super().__init__(error or "retryable platform error", status_code, retry_after)


# --------------------------------------------------------------------------------------------
# Signatures
# --------------------------------------------------------------------------------------------


def hmac_sha256(secret: str | bytes, message: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    msg = message.encode() if isinstance(message, str) else message
    return hmac.new(key, msg, hashlib.sha256).digest()


def sha256_hex_signature(secret: str | bytes, body: bytes) -> str:
    return "sha256=" + hmac_sha256(secret, body).hex()


def sha256_b64_signature(secret: str | bytes, body: str | bytes) -> str:
    return "sha256=" + base64.b64encode(hmac_sha256(secret, body)).decode("ascii")


def check_signature(expected: str, provided: str | None) -> None:
    """Constant-time comparison; raise SignatureError when missing or different."""
    if not provided:
        raise SignatureError("missing signature")
    if not hmac.compare_digest(expected.encode("ascii"), provided.strip().encode("utf-8")):
        raise SignatureError("bad signature")


# --------------------------------------------------------------------------------------------
# HTTP answers
# --------------------------------------------------------------------------------------------


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait, from Retry-After (seconds or HTTP date) or x-rate-limit-reset (epoch)."""
    now = time.time() if now is None else now
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, when.timestamp() - now)
    reset = headers.get("x-rate-limit-reset")
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


def response_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def error_text(response: httpx.Response, limit: int = 500) -> str:
    return f"HTTP {response.status_code}: {response.text[:limit]}"


def raise_for_platform_status(response: httpx.Response) -> None:
    """Map a non-2xx answer to RetryableSendError (429, 5xx) or PermanentSendError (other 4xx)."""
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 429 or status >= 500 or status == 408:
        raise RetryableSendError(parse_retry_after(response.headers), error_text(response), status)
    raise PermanentSendError(error_text(response), status)


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    timeout: httpx.Timeout | float | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """client.request with a timeout always set and transport failures made retryable."""
    try:
        return client.request(method, url, timeout=timeout or DEFAULT_TIMEOUT, **kwargs)
    except httpx.TimeoutException as exc:
        raise RetryableSendError(None, f"timeout: {exc!r}") from exc
    except httpx.TransportError as exc:
        raise RetryableSendError(None, f"transport error: {exc!r}") from exc


def join_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def utc_from_timestamp_ms(value: int | str) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def utc_from_iso(value: str) -> datetime:
    """ISO 8601 with 'Z' or an offset, as Discourse and YouTube send; naive means UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment (Discourse "cooked", HTML-only emails)."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return "".join(extractor.parts).strip()
