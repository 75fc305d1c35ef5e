"""One filter on every log handler (LOGGING in portal/settings.py): no secret and no forged line
reaches a log.

- Secrets: libraries log what they send (httpx logs every request URL at INFO, with Messenger's
  ``access_token`` in it), and error messages quote URLs and headers. Credentials in the forms
  the platforms use are replaced by ``[redacted]``: query parameters (access_token, key, token,
  signature...), Authorization and Api-Key headers (Bearer, Basic), and the password in a URL
  (imaps://login:password@host).
- Forged lines: text from outside (a CSP report, a user name, a URL) may hold a newline that
  would start a line of its own, looking like another event. Line breaks and other control
  characters, and bidi overrides, are written escaped (\\n, \\x1b, \\u202e); the message stays on
  its line. Tracebacks are formatted after the filter and keep their lines.
"""

import logging
import re
from urllib.parse import urlsplit

REDACTED = "[redacted]"

_SECRET_PARAMS = (
    "access_token|refresh_token|id_token|client_secret|api_key|apikey|key|token|signature|password|passwd|"
    "secret|verify_token|hub\\.verify_token"
)
_PATTERNS = (
    # ?access_token=..., &key=..., token=... signature=... (Mailgun's fields as text)
    re.compile(rf"(?i)(?<![A-Za-z0-9_-])((?:{_SECRET_PARAMS})=)([^&\s'\",;)]+)"),
    # Authorization: Bearer x / 'Authorization': 'Basic x' / authorization=token x
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer\s+|basic\s+|token\s+|otp\s+)?)([^\s'\",}]+)"),
    # Discourse's Api-Key header, X-Api-Key and the like
    re.compile(r"(?i)((?:x-)?api[-_]key['\"]?\s*[:=]\s*['\"]?)([^\s'\",}]+)"),
    # scheme://login:password@host
    re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]*:)([^@\s/]+)(?=@)"),
)
# C0 controls but tab, DEL, C1 controls, bidi embeddings, overrides and isolates, line and
# paragraph separators.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def redact_url(url: str) -> str:
    """A URL that is itself a secret (an incoming-webhook URL: whoever has it can post) as it may
    be logged: scheme and host, the rest redacted."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return REDACTED
    return f"{parts.scheme}://{host}{port}/{REDACTED}" if parts.scheme and host else REDACTED


def _escape(match: re.Match) -> str:
    char = match.group(0)
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_line(text: str) -> str:
    return _UNSAFE.sub(_escape, text)


class RedactSecrets(logging.Filter):
    """Redacts credentials and escapes control characters in each record's message. `urls` are
    URLs that are secrets as a whole (DUSK_NOTIFY_WEBHOOK_URL, passed by LOGGING): httpx logs every
    request's URL, and its errors quote it."""

    def __init__(self, name: str = "", urls: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__(name)
        self.urls = [(url, redact_url(url)) for url in urls if url]

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the formatter to report
            return True
        for url, shown in self.urls:
            message = message.replace(url, shown)
        record.msg = escape_line(redact(message))
        record.args = None
        return True
