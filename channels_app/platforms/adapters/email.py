"""Email: inbound-parse webhooks in (SendGrid, Mailgun or Postmark style), SMTP replies out.

Django-free on purpose (no django.core.mail): the adapter must work from any worker and its
tests need no settings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import smtplib
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import HeaderParser
from email.utils import format_datetime, formataddr, make_msgid, parseaddr, parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from channels_app.platforms.adapters.base import (
    Account,
    BadDelivery,
    Identity,
    InboundMessage,
    PermanentSendError,
    Platform,
    ReplyContext,
    ReplyTarget,
    RetryableSendError,
    SendResult,
    SignatureError,
    Timeout,
    WebhookRequest,
    hmac_sha256,
    html_to_text,
)

if TYPE_CHECKING:
    import httpx  # the interface's HTTP client: email replies do not use it

# Mailgun signs timestamp + token; older than this (either way) is a replay, not a delivery.
SIGNATURE_MAX_AGE = 15 * 60


def verify_request(
    secret: str, authorization: str | None, fields: Mapping[str, Any], *, now: float | None = None
) -> None:
    """Check an inbound-parse delivery; SignatureError unless it carries the secret.

    Two ways, as the providers do it: HTTP Basic auth whose password is the secret (SendGrid and
    Postmark call a URL like https://inbound:SECRET@dusk.example.com/hooks/7/email), or
    Mailgun's signature fields (hex HMAC-SHA256 of timestamp + token, signed with the secret).
    """
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise SignatureError("malformed Basic authorization") from None
        password = decoded.partition(":")[2]
        if not hmac.compare_digest(password.encode(), secret.encode()):
            raise SignatureError("wrong Basic auth password")
        return
    lowered = _lower_keys(fields)
    timestamp, token, signature = (str(lowered.get(k) or "") for k in ("timestamp", "token", "signature"))
    if not (timestamp and token and signature):
        raise SignatureError("missing credentials: use Basic auth or Mailgun's timestamp/token/signature")
    expected = hmac_sha256(secret, timestamp + token).hex()
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise SignatureError("bad signature")
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        raise SignatureError("timestamp is not a number") from None
    if age > SIGNATURE_MAX_AGE:
        raise SignatureError(f"signature timestamp is {int(age)} s away from now (replay?)")


def automatic_reason(message: InboundMessage) -> str | None:
    """Why this mail was sent by a machine (RFC 3834 and common practice), or None.

    Answering an autoresponder, a bounce or a mailing list starts a mail loop.
    """
    headers = (message.raw or {}).get("parsed_headers") or {}
    submitted = headers.get("auto-submitted", "").strip().lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted}"
    precedence = headers.get("precedence", "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("x-autoreply", "x-autorespond", "list-id", "list-unsubscribe"):
        if headers.get(name):
            return f"{name} header"
    if headers.get("x-auto-response-suppress", "").strip().lower() in ("all", "oof", "autoreply"):
        return "X-Auto-Response-Suppress header"
    local = message.customer_handle.partition("@")[0].lower()
    if local in ("mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply"):
        return f"sent from {message.customer_handle}"
    return None


def is_customer(address: str, own_addresses: tuple[str, ...]) -> bool:
    """Who counts as a customer of a mailbox: any sender but the mailbox itself (the brand's
    people writing from the support address, or a copy of our own reply). Machines are
    customers' mail too, kept but never answered (automatic_reason)."""
    own = {a.strip().lower() for a in own_addresses if "@" in (a or "")}
    return bool(address) and address.strip().lower() not in own


def _lower_keys(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key).lower(): payload[key] for key in payload}


def _headers(fields: dict[str, Any]) -> dict[str, str]:
    """Original mail headers, lower-cased names: SendGrid sends a raw block, Postmark a list of
    {Name, Value}, Mailgun a list of [name, value] pairs."""
    raw = fields.get("headers") or fields.get("message-headers")
    pairs: list[tuple[str, str]] = []
    if isinstance(raw, str) and raw.strip().startswith("["):
        import json

        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    if isinstance(raw, str):
        pairs = list(HeaderParser().parsestr(raw).items())
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict):
                pairs.append((str(item.get("Name", "")), str(item.get("Value", ""))))
            elif isinstance(item, list | tuple) and len(item) == 2:
                pairs.append((str(item[0]), str(item[1])))
    found: dict[str, str] = {}
    for name, value in pairs:
        found.setdefault(name.lower(), value)
    return found


def _first(sources: Iterable[dict[str, Any]], *names: str) -> str:
    for source in sources:
        for name in names:
            value = source.get(name)
            if value:
                return str(value).strip()
    return ""


def _msgid(value: str) -> str:
    value = value.strip()
    if value and not value.startswith("<"):
        value = f"<{value}>"
    return value


def _first_msgid(value: str) -> str | None:
    ids = value.split()
    return _msgid(ids[0]) if ids else None


def _created_at(date_value: str, timestamp: str) -> datetime:
    if timestamp:
        try:
            return datetime.fromtimestamp(float(timestamp), tz=UTC)
        except ValueError:
            pass
    if date_value:
        try:
            parsed = parsedate_to_datetime(date_value)
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None:
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    return datetime.now(UTC)


def parse_inbound(payload: Mapping[str, Any]) -> InboundMessage:
    """One inbound email from a parse webhook's JSON or form fields."""
    fields = _lower_keys(payload)
    headers = _headers(fields)
    sources = (headers, fields)
    name, address = parseaddr(_first((fields, headers), "from", "sender"))
    full = fields.get("fromfull")  # Postmark
    if isinstance(full, dict):
        name, address = full.get("Name") or name, full.get("Email") or address
    subject = _first(sources, "subject")
    text = _first((fields,), "text", "body-plain", "textbody", "stripped-text")
    if not text:
        text = html_to_text(_first((fields,), "html", "body-html", "htmlbody"))
    date_value = _first(sources, "date")
    message_id = _msgid(_first(sources, "message-id"))
    if not message_id:
        # A mail without Message-ID still needs a stable unique id for de-duplication.
        digest = hashlib.sha256(f"{address}\n{date_value}\n{subject}\n{text}".encode()).hexdigest()
        message_id = f"<sha256-{digest[:32]}@dusk.invalid>"
    in_reply_to = _first_msgid(_first(sources, "in-reply-to"))
    references = _first(sources, "references")
    lang = _first(sources, "content-language")
    return InboundMessage(
        platform_message_id=message_id,
        thread_id=_first_msgid(references) or in_reply_to or message_id,  # the thread's root
        customer_id=address.lower(),
        customer_handle=address,
        customer_name=name,
        text=text,
        lang=lang[:2].lower() if lang else None,
        created_at=_created_at(date_value, _first((fields,), "timestamp")),
        in_reply_to=in_reply_to,
        raw={**dict(fields), "subject": subject, "parsed_headers": headers},
    )


def reply_subject(subject: str) -> str:
    subject = (subject or "").strip()
    return subject if subject.lower().startswith("re:") else f"Re: {subject}".strip()


def build_reply(
    from_addr: str,
    to_addr: str,
    subject: str,
    text: str,
    *,
    in_reply_to: str | None = None,
    references: Iterable[str] = (),
    from_name: str = "",
    message_id_domain: str | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((from_name, from_addr)) if from_name else from_addr
    message["To"] = to_addr
    message["Subject"] = reply_subject(subject) if in_reply_to else (subject or "")
    message["Date"] = format_datetime(now or datetime.now(UTC))
    domain = message_id_domain or Address(addr_spec=from_addr).domain or None
    message["Message-ID"] = make_msgid(domain=domain)
    # RFC 3834: mark it automatic so the other side's autoresponders do not answer back.
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    if in_reply_to:
        parent = _msgid(in_reply_to)
        chain = [_msgid(ref) for ref in references if ref.strip()]
        if parent not in chain:
            chain.append(parent)
        message["In-Reply-To"] = parent
        message["References"] = " ".join(chain)
    message.set_content(text, cte="quoted-printable")
    return message


def _smtp_error(code: int, error: str) -> RetryableSendError | PermanentSendError:
    # 4xx is "try again later" in SMTP, 5xx is final.
    if 400 <= code < 500:
        return RetryableSendError(None, error, code)
    return PermanentSendError(error, code)


def smtp_failure(exc: BaseException) -> RetryableSendError | PermanentSendError:
    """An smtplib/socket failure (from this module or Django's SMTP backend) as a SendError."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()))
        return _smtp_error(code, f"recipient refused: {code} {reply!r}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _smtp_error(exc.smtp_code, f"SMTP {exc.smtp_code}: {exc.smtp_error!r}")
    # Disconnects, refused connections, timeouts.
    return RetryableSendError(None, f"SMTP transport error: {exc!r}")


def send_message(
    message: EmailMessage,
    host: str,
    port: int,
    *,
    timeout: float = 15.0,
    username: str | None = None,
    password: str | None = None,
    starttls: bool = False,
) -> SendResult:
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            if starttls:
                smtp.starttls()
            if username:
                smtp.login(username, password or "")
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise smtp_failure(exc) from exc
    return SendResult(platform_id=message["Message-ID"], status_code=250)


def check_smtp(
    host: str,
    port: int,
    *,
    timeout: float = 15.0,
    username: str | None = None,
    password: str | None = None,
    starttls: bool = False,
    use_ssl: bool = False,
) -> Identity:
    """A connection test: greet the relay (EHLO), log in when there are credentials, NOOP, quit.
    Sends nothing. SendError when the relay cannot be reached or refuses."""
    try:
        smtp_class = smtplib.SMTP_SSL if use_ssl else smtplib.SMTP
        with smtp_class(host, port, timeout=timeout) as smtp:
            smtp.ehlo()
            if starttls:
                smtp.starttls()
            if username:
                smtp.login(username, password or "")
            code, _ = smtp.noop()
            if code != 250:
                raise _smtp_error(code, f"SMTP NOOP answered {code}")
    except (smtplib.SMTPException, OSError) as exc:
        raise smtp_failure(exc) from exc
    return Identity(account_id=username or "", name=f"{host}:{port}")


def send_reply(
    host: str,
    port: int,
    from_addr: str,
    to_addr: str,
    subject: str,
    text: str,
    *,
    in_reply_to: str | None = None,
    references: Iterable[str] = (),
    from_name: str = "",
    timeout: float = 15.0,
    username: str | None = None,
    password: str | None = None,
    starttls: bool = False,
    message_id_domain: str | None = None,
) -> SendResult:
    """Send a threaded reply; SendResult.platform_id is the Message-ID we generated."""
    message = build_reply(
        from_addr,
        to_addr,
        subject,
        text,
        in_reply_to=in_reply_to,
        references=references,
        from_name=from_name,
        message_id_domain=message_id_domain,
    )
    return send_message(message, host, port, timeout=timeout, username=username, password=password, starttls=starttls)


class EmailPlatform(Platform):
    """Inbound-parse webhooks in (or services/polling.py reading the IMAP mailbox, imap.py),
    replies out through the portal's mail backend: the outbox stages, records, then terminates
    each mail (mail.py), which send_reply's single SMTP session cannot do."""

    kind = "email"
    sends_mail = True
    needs_api_token = False  # the mail backend has its own settings
    webhook_methods = ("POST",)

    @staticmethod
    def _fields(request: WebhookRequest) -> dict[str, Any]:
        if request.content_type == "application/json":
            return request.json_object()
        return request.form()

    def verify_webhook(self, secret: str, request: WebhookRequest) -> None:
        # Mailgun's signature is in the fields, so the body is read first.
        verify_request(secret, request.headers.get("Authorization"), self._fields(request))

    def replay_token(self, request: WebhookRequest) -> str | None:
        authorization = request.headers.get("Authorization") or ""
        if authorization.lower().startswith("basic "):
            return None  # the secret itself was sent: nothing one-time to remember
        token = str(_lower_keys(self._fields(request)).get("token") or "")
        return token[:256] or None

    def parse_webhook(self, request: WebhookRequest) -> list[InboundMessage]:
        message = parse_inbound(self._fields(request))
        if not message.customer_id:
            raise BadDelivery("The email has no sender address. Nothing was stored.")
        return [message]

    def message_meta(self, message: InboundMessage) -> dict[str, Any]:
        raw = message.raw or {}
        meta: dict[str, Any] = {"subject": str(raw.get("subject") or ""), "address": message.customer_handle}
        references = (raw.get("parsed_headers") or {}).get("references") or ""
        if references:
            meta["references"] = references
        automatic = automatic_reason(message)
        if automatic:
            meta["automatic"] = automatic
        return meta

    def reply_target(self, context: ReplyContext) -> ReplyTarget:
        meta = context.meta
        address = meta.get("address") or context.author_id or context.customer_handle
        if "@" not in address:
            raise ValueError(f"no email address to answer in conversation {context.reference}")
        reply_to = context.reply_to
        return ReplyTarget(
            recipient_id=address,
            subject=meta.get("subject") or f"Your message to {context.channel_name}",
            parent_id=reply_to if reply_to and reply_to.startswith("<") else None,
            references=tuple((meta.get("references") or "").split()),
        )

    def send_reply(
        self, client: httpx.Client, account: Account, target: ReplyTarget, text: str, *, timeout: Timeout = None
    ) -> SendResult:
        raise PermanentSendError("email replies go out through the mail backend, not an HTTP API")

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
        # A mail's Message-ID is fixed per outbox row, so a receiving server drops a repeat:
        # there is nothing to look up.
        return None


PLATFORM = EmailPlatform()
