"""What every platform adapter shares: the normalised message, send results, errors, helpers,
and the `Platform` interface each adapter implements (registered in registry.py).

Adapters do platform I/O only (verify, parse, send). They never touch the ORM: services decide
what to store, tasks decide when to send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any, ClassVar

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
class Deletion:
    """A customer's message removed on the platform (a deleted tweet, a deleted forum post) or a
    whole thread removed (a deleted topic): a reply still waiting to answer it is skipped."""

    reason: str  # shown on the skipped reply
    platform_message_id: str = ""
    thread_id: str = ""


# What a webhook delivery holds, in the order the platform sent it.
Event = InboundMessage | Deletion


@dataclass(frozen=True)
class SendResult:
    platform_id: str
    status_code: int
    retry_after: float | None = None
    permanent: bool = False
    error: str = ""
    # The request may have been carried out although we got no success answer (read timeout,
    # connection lost after sending, 5xx): look on the platform before sending again.
    in_doubt: bool = False
    # Not sent now: the reply an earlier attempt posted, found on the platform.
    recovered: bool = False


class AdapterError(Exception):
    pass


class SignatureError(AdapterError):
    """A webhook request whose signature or verify token does not check out: answer 403."""


class BadDelivery(AdapterError):
    """A webhook delivery that cannot be read (not JSON, for another account...): answer 400 with
    the message, which is a whole sentence for the platform's operator, and store nothing."""


class SendError(AdapterError):
    permanent = False

    def __init__(self, error: str, status_code: int = 0, retry_after: float | None = None, *, in_doubt: bool = False):
        super().__init__(error)
        self.error = error
        self.status_code = status_code
        self.retry_after = retry_after
        self.in_doubt = in_doubt

    @property
    def result(self) -> SendResult:
        """The failure as a SendResult, for the outbox to record the platform's answer."""
        return SendResult(
            platform_id="",
            status_code=self.status_code,
            retry_after=self.retry_after,
            permanent=self.permanent,
            error=self.error,
            in_doubt=self.in_doubt,
        )


class PermanentSendError(SendError):
    """Retrying will not help (bad request, revoked credentials, deleted target)."""

    permanent = True


class RetryableSendError(SendError):
    """Rate limited, platform down or network trouble: retry, not before retry_after seconds."""

    def __init__(
        self, retry_after: float | None = None, error: str = "", status_code: int = 0, *, in_doubt: bool = False
    ):
        super().__init__(error or "retryable platform error", status_code, retry_after, in_doubt=in_doubt)


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


_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e\u00a0-\u2027\u202f-\u2065\u206a-\uffff]+")
_ERROR_MESSAGE_LIMIT = 160


def _error_fields(body: Any) -> tuple[str, str]:
    """(code, message) of a platform's JSON error answer, ("", "") for anything else."""
    if not isinstance(body, dict):
        return "", ""
    error = body.get("error")
    if isinstance(error, dict):
        # Graph API {"error": {"message", "type", "code"}}; Google {"error": {"message",
        # "status", "errors": [{"reason"}]}}.
        reasons = [e.get("reason") for e in error.get("errors") or [] if isinstance(e, dict)]
        codes = [*reasons, error.get("status"), error.get("type"), error.get("code")]
        return next((str(c) for c in codes if c is not None), ""), str(error.get("message") or "")
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, dict):  # X v1.1 {"errors": [{"code": 187, "message"}]}
            return str(first.get("code") or ""), str(first.get("message") or "")
        return "", str(first)  # Discourse {"errors": ["..."]}
    if "detail" in body or "title" in body:  # X v2 problem details
        return "", str(body.get("detail") or body.get("title") or "")
    return "", ""


def error_text(response: httpx.Response) -> str:
    """What a platform's refusal is recorded as: the status, and the code and message of a
    platform's JSON error, cut short and made one printable line. Never the body as it came:
    it is shown in the message log and on the channel's page, and whatever answered may not be
    a platform at all (an HTML page, an internal service)."""
    code, message = _error_fields(response_json(response))
    code = code if _ERROR_CODE.fullmatch(code) else ""
    message = " ".join(_NOT_PRINTABLE.sub(" ", message).split())
    if len(message) > _ERROR_MESSAGE_LIMIT:
        message = message[: _ERROR_MESSAGE_LIMIT - 1] + "…"
    text = " ".join(
        part for part in (f"HTTP {response.status_code}", response.reason_phrase, f"({code})" if code else "") if part
    )
    return f"{text}: {message}" if message else text


def raise_for_platform_status(response: httpx.Response) -> None:
    """Map a non-2xx answer to RetryableSendError (429, 5xx) or PermanentSendError (other 4xx)."""
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 429 or status >= 500 or status == 408:
        # A 5xx may come after the platform did the work; 429 and 408 say it did not.
        raise RetryableSendError(
            parse_retry_after(response.headers), error_text(response), status, in_doubt=status >= 500
        )
    raise PermanentSendError(error_text(response), status)


# Transport failures that happen before the request left: the platform cannot have acted.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


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
        raise RetryableSendError(None, f"timeout: {exc!r}", in_doubt=not isinstance(exc, _NOT_SENT)) from exc
    except httpx.TransportError as exc:
        raise RetryableSendError(None, f"transport error: {exc!r}", in_doubt=not isinstance(exc, _NOT_SENT)) from exc


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


# --------------------------------------------------------------------------------------------
# Finding a reply we may already have posted
# --------------------------------------------------------------------------------------------

_URL = re.compile(r"https?://\S+")
_SPACE = re.compile(r"\s+")


def comparable_text(text: str) -> str:
    """Text as platforms give it back, made comparable with what we sent: HTML entities
    unescaped (X answers "&amp;"), links masked (X shortens them to t.co), spaces collapsed."""
    return _SPACE.sub(" ", _URL.sub("<link>", html.unescape(text or ""))).strip()


def pick_reply(candidates: list[tuple[str, str]], text: str, *, author_known: bool) -> str | None:
    """The platform id of our earlier reply among (id, text) candidates already filtered by
    target, author and time. With the author known, a single candidate is ours whatever the
    platform did to its text; otherwise (or among several) the text must match."""
    if author_known and len(candidates) == 1:
        return candidates[0][0]
    wanted = comparable_text(text)
    for platform_id, candidate_text in candidates:
        if comparable_text(candidate_text) == wanted:
            return platform_id
    return None


# --------------------------------------------------------------------------------------------
# The interface every platform implements
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyContext:
    """What the services know of the message a reply answers, for the platform to aim it."""

    thread_id: str  # the conversation's platform thread id
    reply_to: str | None  # platform id of the message answered (a hand-off: the latest inbound)
    author_id: str  # that message's author, "" when there is no message
    customer_id: str
    customer_handle: str
    meta: Mapping[str, Any]  # what message_meta kept of the message answered
    reference: str  # the conversation's reference, for error messages
    channel_name: str


@dataclass(frozen=True)
class ReplyTarget:
    """Where a reply goes, the same fields for every platform (each uses those it needs)."""

    thread_id: str = ""  # Discourse: the topic id
    # X: the tweet answered; YouTube: the top-level comment; Discourse: the post number
    # answered; email: the Message-ID answered.
    parent_id: str | None = None
    recipient_id: str = ""  # Messenger: the page-scoped person id; X direct message: the user id; email: the address
    subject: str = ""  # email
    references: tuple[str, ...] = ()  # email: the thread's Message-IDs
    # The textrules length rule the text must fit when it is not the channel kind's own
    # (an X direct message is counted as "x_dm", 10,000 characters, not as a tweet).
    length_rule: str = ""


@dataclass(frozen=True)
class WebhookAnswer:
    """An answer given to the platform as is, with nothing stored: a challenge, a ping."""

    json: dict[str, Any] | None = None
    text: str = ""  # sent as text/plain when json is None


class WebhookRequest:
    """What a platform reads of one webhook request. Body and form are read on demand: reading a
    multipart form (email with attachments) as a raw body would count the attachments against
    the request size limit."""

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        read_body: Callable[[], bytes],
        content_type: str = "",
        read_form: Callable[[], Mapping[str, Any]] = dict,
        account_id: str = "",
        channel_name: str = "",
    ) -> None:
        self.headers = headers  # case-insensitive lookups, as HTTP wants (Django's request.headers)
        self.content_type = content_type
        self.account_id = account_id  # the channel's own account on the platform, "" when unset
        self.channel_name = channel_name
        self._read_body = read_body
        self._read_form = read_form
        self._json: Any = None

    @property
    def body(self) -> bytes:
        return self._read_body()

    def form(self) -> dict[str, Any]:
        return dict(self._read_form())

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; BadDelivery otherwise."""
        if self._json is None:
            try:
                self._json = json.loads(self.body)
            except (UnicodeDecodeError, ValueError) as exc:
                raise BadDelivery(f"The body is not JSON: {exc}.") from None
        if not isinstance(self._json, dict):
            raise BadDelivery("The body is not a JSON object.")
        return self._json


# A request's time limit: httpx's own, seconds, or None for the adapter's default.
Timeout = httpx.Timeout | float | None


@dataclass(frozen=True)
class PublicChange:
    """One change to what a channel shows everyone (not one customer): the announcement the
    cutover publishes on the channel itself. `action` is one of the platform's
    `public_actions`; `key` is the publication's own key, kept on the platform where the
    platform has a place for it (a Discourse topic's external_id), so an attempt in doubt is
    found again rather than repeated."""

    action: str
    key: str
    text: str = ""  # the post, the topic's body, the channel description
    title: str = ""  # Discourse: the topic's title
    # Messenger: the greeting per platform locale ("default" first, then "fr_FR"...); YouTube:
    # the description per locale of the channel's localizations.
    texts: Mapping[str, str] = field(default_factory=dict)
    # Messenger: ice breakers as (question, postback payload), pointing to the new channels.
    links: tuple[tuple[str, str], ...] = ()
    # Discourse: the category of the announcement or the one made read-only; the topic to update
    # or unpin. X: the post's locale.
    target: str = ""
    # YouTube: the channel's default language, set with the description when it has none (its
    # localizations need one); "" to leave it as it is.
    language: str = ""
    # When the first attempt began: a post looked up in doubt is no older (X).
    since: datetime | None = None


@dataclass(frozen=True)
class Published:
    """A public change done on the platform: its platform id (the post, the topic, the
    channel) and whether it was found there, done by an earlier attempt, rather than done now."""

    platform_id: str
    recovered: bool = False


@dataclass(frozen=True)
class Account:
    """Where and as whom to call a platform: its API base URL, the credential, and the brand's own
    account id there (X and YouTube use it to recognise our replies, Discourse to post as)."""

    base_url: str
    token: str
    account_id: str = ""


@dataclass(frozen=True)
class Identity:
    """Who the platform says the channel's credentials are: the answer of a read-only call."""

    account_id: str
    name: str


class Platform(ABC):
    """One platform as the services see it. Each adapter module defines one (``PLATFORM``) and
    registry.py maps channel kinds to them, so a new platform is an adapter and a registry line.

    Errors: verify_webhook raises SignatureError (403); verify_webhook and parse_webhook raise
    BadDelivery (400), and parse_webhook KeyError, TypeError, ValueError or AttributeError for a
    malformed event (400); reply_target raises ValueError (the reply fails with that message);
    send_reply and find_reply raise SendError.
    """

    kind: ClassVar[str]  # the channel kind's value ("x", "youtube"...)
    default_base_url: ClassVar[str] = ""  # "": every channel sets its own (a forum's URL)
    base_url_label: ClassVar[str] = "the API base URL"  # what to ask for when there is no default
    sends_replies: ClassVar[bool] = True
    sends_mail: ClassVar[bool] = False  # replies go through the mail backend, not send_reply
    needs_api_token: ClassVar[bool] = True
    length_unit: ClassVar[str] = "characters"  # how the reply length rule counts
    webhook_methods: ClassVar[tuple[str, ...]] = ()  # () when the platform is polled
    # GET on the webhook answers the platform's challenge with the secret in the variable the
    # channel names plus this suffix.
    challenge_secret_suffix: ClassVar[str] = ""

    def answer_challenge(self, secret: str, query: Mapping[str, str]) -> WebhookAnswer:
        raise BadDelivery(f"{self.kind} webhooks answer no challenge.")

    def verify_webhook(self, secret: str, request: WebhookRequest) -> None:
        raise SignatureError(f"{self.kind} has no webhooks")

    def parse_webhook(self, request: WebhookRequest) -> list[Event] | WebhookAnswer:
        """The customers' messages (who counts as a customer is each adapter's `is_customer`)
        and deletions of one delivery; everything else the platform sends is acknowledged and
        ignored."""
        raise BadDelivery(f"{self.kind} has no webhooks.")

    def replay_token(self, request: WebhookRequest) -> str | None:
        """The one-time token a verified delivery was signed with, when its signature does not
        cover the body (Mailgun): the webhook refuses a token it has seen. None otherwise."""
        return None

    def message_meta(self, message: InboundMessage) -> dict[str, Any]:
        """What to keep with a stored message for answering it later (reply_target's meta)."""
        return {}

    def length_rule(self, thread_id: str) -> str:
        """The textrules length rule a reply in this thread must fit: the kind's own, unless the
        platform answers some threads another way (X direct messages)."""
        return self.kind

    @abstractmethod
    def reply_target(self, context: ReplyContext) -> ReplyTarget: ...

    @abstractmethod
    def send_reply(
        self, client: httpx.Client, account: Account, target: ReplyTarget, text: str, *, timeout: Timeout = None
    ) -> SendResult: ...

    def whoami(self, client: httpx.Client, account: Account, *, timeout: Timeout = None) -> Identity:
        """Who the credentials act as, from a read-only call (a connection test); SendError when
        the platform refuses them or cannot be reached."""
        raise PermanentSendError(f"{self.kind} has no read-only identity call")

    @abstractmethod
    def find_reply(
        self,
        client: httpx.Client,
        account: Account,
        target: ReplyTarget,
        text: str,
        since: datetime,
        *,
        timeout: Timeout = None,
    ) -> str | None:
        """The id of our reply to the target posted since `since` (an earlier attempt that may
        have gone through), or None."""

    # The public notice ------------------------------------------------------------------
    # What the cutover can change on the channel itself, action -> what it does (the dry run
    # lists it). {} for a platform with nothing public to change through its API (email).
    public_actions: ClassVar[Mapping[str, str]] = {}

    def check_public_action(self, change: PublicChange) -> None:
        if change.action not in self.public_actions:
            raise PermanentSendError(f"{self.kind} publishes no {change.action!r}")

    def read_public_state(
        self, client: httpx.Client, account: Account, change: PublicChange, *, timeout: Timeout = None
    ) -> dict[str, Any]:
        """What the change will replace, as JSON, captured before it is made: `restore` puts
        exactly this back."""
        raise PermanentSendError(f"{self.kind} publishes no {change.action!r}")

    def publish(
        self,
        client: httpx.Client,
        account: Account,
        change: PublicChange,
        before: Mapping[str, Any],
        *,
        timeout: Timeout = None,
    ) -> Published:
        """Make the change; SendError otherwise (permanent: the platform refused it)."""
        raise PermanentSendError(f"{self.kind} publishes no {change.action!r}")

    def find_publication(
        self,
        client: httpx.Client,
        account: Account,
        change: PublicChange,
        before: Mapping[str, Any],
        *,
        timeout: Timeout = None,
    ) -> str | None:
        """The platform id of the change when the platform already shows it (an attempt that
        went through although its answer was lost), else None. SendError when it cannot say."""
        raise PermanentSendError(f"{self.kind} publishes no {change.action!r}")

    def restore(
        self,
        client: httpx.Client,
        account: Account,
        change: PublicChange,
        before: Mapping[str, Any],
        platform_id: str,
        *,
        timeout: Timeout = None,
    ) -> None:
        """Put back what `read_public_state` captured before the change (`platform_id` names
        what the change created, to remove it). Doing it twice does no harm."""
        raise PermanentSendError(f"{self.kind} publishes no {change.action!r}")
