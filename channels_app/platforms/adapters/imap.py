"""Email over IMAP: a support mailbox read by UID, parsed like an inbound-parse delivery.

The second inbound path for email channels (the first is the inbound-parse webhook in
email.py). Django-free, as email.py: standard ``imaplib`` only, with a socket timeout.

A channel's mailbox is one URL in its ``api_base_url``:

| URL                                   | connection                                                 |
|---------------------------------------|------------------------------------------------------------|
| ``imaps://host[:993]/MAILBOX``        | TLS from the first byte (IMAP4_SSL), the default to use    |
| ``imap://host[:143]/MAILBOX``         | plain connection upgraded with STARTTLS (refused without)  |
| ``imap://host[:143]/MAILBOX?tls=none``| no TLS at all: only to a loopback address (a local proxy)  |

Certificates are always verified, host name included, against the system's CA store
(``ssl.create_default_context()``); ``tls_context(ca_file)`` adds an extra CA bundle for a server
whose certificate comes from a private CA (the poller passes ``DUSK_IMAP_CA_FILE``). A certificate
that cannot be verified refuses the connection before anything, the password least of all, is sent.

The login name is the URL's user part (``imaps://support%40brand.example@imap.brand.example``),
else the channel's address; the password is never in the URL (the channel names its environment
variable). MAILBOX defaults to INBOX.

Nothing is ever changed on the server: the mailbox is opened with EXAMINE (read-only) and
messages are fetched with BODY.PEEK[], so not even the \\Seen flag moves; no STORE, no EXPUNGE.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import imaplib
import re
import socket
import ssl
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import NamedTuple

from channels_app.core.hosts import HostRefused, connect
from channels_app.core.mailbox import (
    Mailbox,
)
from channels_app.platforms.adapters import email as email_adapter
from channels_app.platforms.adapters.base import AdapterError, InboundMessage, html_to_text


class MailboxError(AdapterError):
    """The mailbox could not be read: refused login, unreachable server, timeout, no such mailbox."""


class PollResult(NamedTuple):
    messages: list[InboundMessage]  # new mail, oldest first, without the channel's own
    uid_validity: int  # the mailbox's UIDVALIDITY during this poll
    last_uid: int  # the highest UID read: the next poll starts above it
    complete: bool  # False when max_messages cut the poll short (the rest comes next time)
    unreadable: list[int]  # UIDs of messages that could not be parsed (skipped)


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """The context every TLS connection uses: the system's CAs, certificate and host name
    verified; ``ca_file`` (a PEM bundle) is trusted in addition, never instead. OSError or
    ssl.SSLError when that file cannot be read."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


class _GuardedIMAP4(imaplib.IMAP4):
    """IMAP4 whose socket goes only to an allowed address, checked as it connects
    (core/hosts.py). imaplib has no other hook than _create_socket for this."""

    def __init__(self, host: str, port: int, *, timeout: float, allow_private: bool) -> None:
        self.allow_private = allow_private
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return connect(self.host, self.port, timeout, allow_private=self.allow_private)


class _GuardedIMAP4SSL(imaplib.IMAP4_SSL):
    def __init__(
        self, host: str, port: int, *, ssl_context: ssl.SSLContext, timeout: float, allow_private: bool
    ) -> None:
        self.allow_private = allow_private
        super().__init__(host, port, ssl_context=ssl_context, timeout=timeout)

    def _create_socket(self, timeout):
        sock = connect(self.host, self.port, timeout, allow_private=self.allow_private)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def _connect(
    mailbox: Mailbox, timeout: float, ssl_context: ssl.SSLContext | None, allow_private: bool = False
) -> imaplib.IMAP4:
    context = ssl_context or tls_context()
    if mailbox.security == "tls":
        return _GuardedIMAP4SSL(
            mailbox.host, mailbox.port, ssl_context=context, timeout=timeout, allow_private=allow_private
        )
    imap = _GuardedIMAP4(mailbox.host, mailbox.port, timeout=timeout, allow_private=allow_private)
    if mailbox.security == "starttls":
        try:
            imap.starttls(ssl_context=context)
        except Exception:
            # A failed handshake leaves imaplib's socket detached (wrap_socket took it): closing
            # it fails with EBADF, which must not hide the reason (e.g. an unverified certificate).
            with contextlib.suppress(OSError):
                imap.shutdown()
            raise
    return imap


def _check(typ: str, data: list, what: str) -> list:
    if typ != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise MailboxError(f"{what} refused: {typ} {detail}".strip())
    return data


_UID = re.compile(rb"\bUID (\d+)")


def _fetched(data: list) -> list[tuple[int, bytes, datetime | None]]:
    """(uid, message bytes, INTERNALDATE) from a UID FETCH answer. imaplib hands a literal as
    (text before it, literal), followed by the text after it (bytes): UID may be on either side."""
    items: list[list] = []  # [text around, literal]
    for part in data:
        if isinstance(part, tuple):
            items.append([part[0], part[1]])
        elif isinstance(part, bytes) and items:
            items[-1][0] += b" " + part
    found = []
    for text, literal in items:
        uid = _UID.search(text)
        if uid is None:
            continue
        # Internaldate2tuple answers in local time; mktime takes it back to an instant.
        stamp = imaplib.Internaldate2tuple(text)
        arrived = datetime.fromtimestamp(time.mktime(stamp), tz=UTC) if stamp else None
        found.append((int(uid.group(1)), literal, arrived))
    return found


def parse_message(data: bytes) -> InboundMessage:
    """One RFC 5322 message as the inbound-parse webhook would deliver it: the same Message-ID as
    platform id (so a mail seen by both paths is stored once), thread, sender, language, date."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text = html = ""
    plain = message.get_body(preferencelist=("plain",))
    if plain is not None:
        text = plain.get_content()
    rich = message.get_body(preferencelist=("html",))
    if rich is not None and not text.strip():
        html = rich.get_content()
    fields = {
        "headers": [[name, str(value)] for name, value in message.items()],
        "text": text.strip() or html_to_text(html),
    }
    return email_adapter.parse_inbound(fields)


def _open(mailbox: Mailbox, timeout: float, ssl_context: ssl.SSLContext | None, allow_private: bool) -> imaplib.IMAP4:
    """A connection to an allowed host (core/hosts.py), or MailboxError saying why not."""
    try:
        return _connect(mailbox, timeout, ssl_context, allow_private)
    except HostRefused as exc:
        raise MailboxError(f"cannot connect to {mailbox.host}:{mailbox.port}: {exc}") from exc
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"cannot connect to {mailbox.host}:{mailbox.port}: {_describe(exc)}") from exc


def _examine(imap: imaplib.IMAP4, mailbox: Mailbox, username: str, password: str) -> None:
    """Log in and open the mailbox read-only (EXAMINE): the connection test and every poll."""
    try:
        imap.login(username, password)
    except imaplib.IMAP4.error as exc:
        raise MailboxError(f"login as {username} refused: {_describe(exc)}") from exc
    _check(*imap.select(_quote(mailbox.mailbox), readonly=True), f"opening mailbox {mailbox.mailbox}")


def check_mailbox(
    mailbox: Mailbox,
    username: str,
    password: str,
    *,
    timeout: float = 15.0,
    ssl_context: ssl.SSLContext | None = None,
    allow_private: bool = False,
) -> str:
    """A connection test: log in and open the mailbox read-only (EXAMINE), reading no mail.
    Returns the login; MailboxError when the server cannot be reached or refuses. The host is
    checked as the poller checks it (core/hosts.py)."""
    imap = _open(mailbox, timeout, ssl_context, allow_private)
    try:
        _examine(imap, mailbox, username, password)
        return username
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"{mailbox.host}:{mailbox.port}: {_describe(exc)}") from exc
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            imap.logout()


def poll_new_mail(
    mailbox: Mailbox,
    username: str,
    password: str,
    *,
    uid_validity: int | None,
    last_uid: int,
    since: datetime,
    own_address: str = "",
    max_messages: int = 100,
    timeout: float = 15.0,
    ssl_context: ssl.SSLContext | None = None,
    allow_private: bool = False,
) -> PollResult:
    """The mail that arrived since the last poll.

    The mark is (UIDVALIDITY, last UID). While UIDVALIDITY is the one the mark was taken in,
    ``UID SEARCH UID last+1:*`` lists exactly the new messages (a server answers ``n:*`` with the
    last message even when n is above it: that one is filtered out). Without a mark, or when
    UIDVALIDITY changed (the mailbox was rebuilt and every UID renumbered), the old UIDs mean
    nothing: the mailbox is read again from ``since`` (by INTERNALDATE, the server's arrival
    time); mail read before is then recognised by its Message-ID and not stored or answered
    twice. At most max_messages are read, oldest first; the rest is left for the next poll.
    """
    imap = _open(mailbox, timeout, ssl_context, allow_private)
    try:
        _examine(imap, mailbox, username, password)
        _, values = imap.response("UIDVALIDITY")
        if not values or not values[0] or not values[0].isdigit():
            raise MailboxError(f"the server gave no UIDVALIDITY for mailbox {mailbox.mailbox}")
        current = int(values[0])
        _, values = imap.response("UIDNEXT")
        uid_next = int(values[0]) if values and values[0] and values[0].isdigit() else None
        same_epoch = uid_validity == current
        if same_epoch:
            criteria = ["UID", f"{last_uid + 1}:*"]
        else:
            # SEARCH SINCE has day precision in the server's time zone: a day earlier is safe,
            # INTERNALDATE below keeps only what arrived since.
            criteria = ["SINCE", (since - timedelta(days=1)).strftime("%d-%b-%Y")]
        (found,) = _check(*imap.uid("SEARCH", *criteria), "UID SEARCH")
        floor = last_uid if same_epoch else 0
        uids = sorted(uid for uid in (int(u) for u in (found or b"").split()) if uid > floor)
        batch = uids[:max_messages]
        messages: list[InboundMessage] = []
        unreadable: list[int] = []
        if batch:
            data = _check(*imap.uid("FETCH", ",".join(map(str, batch)), "(UID INTERNALDATE BODY.PEEK[])"), "UID FETCH")
            own = own_address.strip().lower()
            for uid, raw, arrived in sorted(_fetched(data)):
                if uid not in batch:
                    continue
                if not same_epoch and arrived is not None and arrived < since.replace(microsecond=0):
                    continue  # in the mailbox before Dusk was to answer it (INTERNALDATE has whole seconds)
                try:
                    message = parse_message(raw)
                except Exception:  # a malformed message must not block the mailbox forever
                    unreadable.append(uid)
                    continue
                if not message.customer_id or (own and message.customer_id == own):
                    continue  # nobody to answer, or our own mail (loop guard)
                messages.append(message)
        complete = len(uids) <= max_messages
        mark = batch[-1] if batch else floor
        if complete and not same_epoch and uid_next is not None:
            # Everything below UIDNEXT that SEARCH SINCE left out arrived before `since`: the
            # mark passes it, or the next poll (UID mark+1:*) would read it as new.
            mark = max(mark, uid_next - 1)
        return PollResult(messages, current, mark, complete, unreadable)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"{mailbox.host}:{mailbox.port}: {_describe(exc)}") from exc
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            imap.logout()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the server's certificate could not be verified ({exc.verify_message or exc.reason})"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return text
