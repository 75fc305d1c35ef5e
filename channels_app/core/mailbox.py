"""An email channel's IMAP mailbox URL: what it may say and what it means.

Pure Python (no Django, no I/O), so the Channel model's validation and the IMAP adapter that
connects (channels_app/platforms/adapters/imap.py) read a URL by the same rules.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

SCHEMES = ("imap", "imaps")


DEFAULT_PORTS = {"imaps": 993, "imap": 143}


def gettext_noop(message: str) -> str:
    """Marks a message for the translation catalogs without importing Django (makemessages
    extracts gettext_noop calls); Channel.clean() translates it, the poller logs it in English."""
    return message


class MailboxURLError(ValueError):
    """A mailbox URL that cannot be used. str() is the English sentence; ``template`` and
    ``params`` let a caller that has a language translate it."""

    def __init__(self, template: str, **params: str) -> None:
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)


@dataclass(frozen=True)
class Mailbox:
    host: str
    port: int
    mailbox: str
    security: str  # "tls", "starttls" or "none"
    username: str  # "" when the URL names none: use the channel's address


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_mailbox_url(url: str) -> bool:
    """Whether a channel URL names an IMAP mailbox (imap:// or imaps://, in any case)."""
    return urlsplit((url or "").strip()).scheme in SCHEMES


def parse_mailbox_url(url: str) -> Mailbox:
    """The mailbox an ``imap://`` or ``imaps://`` URL names; MailboxURLError (a ValueError) says what is wrong."""
    split = urlsplit(url.strip())
    if split.scheme not in SCHEMES:
        raise MailboxURLError(
            gettext_noop("An email channel's mailbox URL starts with imaps:// (or imap:// for STARTTLS).")
        )
    if split.password is not None:
        raise MailboxURLError(
            gettext_noop(
                "Do not put the password in the mailbox URL: name its environment variable in the API token field."
            )
        )
    host = split.hostname or ""
    if not host:
        raise MailboxURLError(gettext_noop("The mailbox URL has no host, e.g. imaps://imap.example.com/INBOX."))
    try:
        port = split.port or DEFAULT_PORTS[split.scheme]
    except ValueError:
        raise MailboxURLError(gettext_noop("The mailbox URL's port is not a number between 1 and 65535.")) from None
    mailbox = unquote(split.path.lstrip("/")) or "INBOX"
    if not mailbox.isascii() or not mailbox.isprintable():
        raise MailboxURLError(
            gettext_noop("The mailbox name must be printable ASCII (IMAP's modified UTF-7 names are not supported).")
        )
    query = parse_qs(split.query)
    unknown = set(query) - {"tls"}
    if unknown:
        raise MailboxURLError(
            gettext_noop("Unknown option in the mailbox URL: %(options)s (only tls=none)."),
            options=", ".join(sorted(unknown)),
        )
    security = "tls" if split.scheme == "imaps" else "starttls"
    if query.get("tls"):
        if query["tls"] != ["none"] or split.scheme != "imap":
            raise MailboxURLError(gettext_noop("The only TLS option is imap://…?tls=none (no encryption)."))
        if not _is_loopback(host):
            raise MailboxURLError(
                gettext_noop("tls=none sends the password in clear: it is only allowed to a loopback address.")
            )
        security = "none"
    return Mailbox(host, port, mailbox, security, unquote(split.username or ""))
