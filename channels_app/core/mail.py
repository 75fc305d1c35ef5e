"""Email that is recorded exactly once.

SMTP has no idempotency key, so "send, then record" repeats a message when the
worker dies in between, and "record, then send" loses it. Over SMTP we split
the difference: a message's content goes out, the database records it as sent
(committed), and only then the end-of-data marker that makes the server accept
it. A crash before the commit leaves the server with an unterminated message
that it discards (we send it again later); a crash after the commit can only
lose the few bytes of the marker, a window of microseconds.

To keep that to one commit per group rather than one per message, a group of
messages is staged at once, each on its own SMTP connection, then recorded in
a single statement, then terminated.
"""

import re
import smtplib
from collections.abc import Callable, Hashable, Iterable, Sequence

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import sanitize_address
from django.db import connection, transaction
from django.utils import timezone

CRLF = b"\r\n"
_LEADING_DOT = re.compile(rb"(?m)^\.")

RecordMany = Callable[[list[Hashable]], set[Hashable]]
Refuse = Callable[[Hashable, str], None]


def _stage(smtp: smtplib.SMTP, message: EmailMessage) -> str:
    """Send envelope and content, everything but the end marker. Returns an
    error text if the server refused, "" when staged."""
    encoding = message.encoding or settings.DEFAULT_CHARSET
    code, reply = smtp.mail(sanitize_address(message.from_email, encoding))
    if code != 250:
        smtp.rset()
        return f"sender refused: {code} {reply.decode(errors='replace')}"
    recipients = [sanitize_address(addr, encoding) for addr in message.recipients()]
    answers = {r: smtp.rcpt(r) for r in recipients}
    refused = {r: answer for r, answer in answers.items() if answer[0] not in (250, 251)}
    if len(refused) == len(recipients):
        smtp.rset()
        return "recipient refused: " + ", ".join(
            f"{code} {reply.decode(errors='replace')} ({r})" for r, (code, reply) in refused.items()
        )
    code, reply = smtp.docmd("DATA")
    if code != 354:
        smtp.rset()
        return f"DATA refused: {code} {reply.decode(errors='replace')}"
    body = _LEADING_DOT.sub(b"..", message.message().as_bytes(linesep="\r\n"))
    if not body.endswith(CRLF):
        body += CRLF
    smtp.send(body)
    return ""


def _hang_up(backend: SMTPBackend) -> None:
    """Drop the connection without QUIT: mid-DATA, QUIT would only be read as
    message text, and the server discards an unterminated message anyway."""
    if backend.connection is not None:
        backend.connection.close()
        backend.connection = None


def send_recorded(
    items: Iterable[tuple[Hashable, EmailMessage]],
    *,
    record_sent: RecordMany,
    record_refused: Refuse,
    group_size: int | None = None,
) -> int:
    """Deliver each message and record it exactly once. `record_sent(keys)`
    must commit and return the keys it recorded (a key whose claim was taken
    over is not recorded and its message is not delivered). Returns the number
    recorded as sent."""
    items = list(items)
    group_size = group_size or settings.DUSK_EMAIL_PARALLEL
    probe = get_connection()
    if not isinstance(probe, SMTPBackend):
        # Files, console, memory: no delivery step to split; one send, one record.
        if not items:
            return 0
        with probe:
            probe.send_messages([m for _k, m in items])
        return len(record_sent([k for k, _m in items]))
    pool: list[SMTPBackend] = []
    sent = 0
    try:
        for start in range(0, len(items), group_size):
            group = items[start : start + group_size]
            while len(pool) < len(group):
                backend = get_connection()
                backend.open()
                backend.connection.ehlo_or_helo_if_needed()
                pool.append(backend)
            staged: list[tuple[Hashable, SMTPBackend]] = []
            for (key, message), backend in zip(group, pool, strict=False):
                error = _stage(backend.connection, message)
                if error:
                    record_refused(key, error)
                else:
                    staged.append((key, backend))
            if not staged:
                continue
            try:
                recorded = record_sent([k for k, _b in staged])
            except BaseException:
                # Not recorded: hang up before the end markers so servers drop them.
                for backend in pool:
                    _hang_up(backend)
                pool.clear()
                raise
            # End markers first, replies after: the window in which a crash could
            # lose a recorded message is a few syscalls, not a few round trips.
            terminated: list[tuple[Hashable, SMTPBackend]] = []
            for key, backend in staged:
                if key not in recorded:
                    _hang_up(backend)  # someone else owns it now: never deliver
                    pool.remove(backend)
                    continue
                backend.connection.send(b"." + CRLF)
                terminated.append((key, backend))
            for key, backend in terminated:
                code, reply = backend.connection.getreply()
                if code != 250:
                    record_refused(key, f"message refused after sending: {code} {reply.decode(errors='replace')}")
                    continue
                sent += 1
    finally:
        for backend in pool:
            backend.close()
    return sent


def record_group(table: str, keys: Sequence[int], claimed_at) -> set[int]:
    """Mark claimed rows sent in one transaction; returns the ids that were
    still ours. The commit may return before its WAL reaches disk: a record of
    "sent" survives any worker crash or lost connection (the server has it),
    and is only at risk if the PostgreSQL server itself crashes within a
    fraction of a second, while the commit costs no fsync."""
    quoted = connection.ops.quote_name(table)
    with transaction.atomic(), connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SET LOCAL synchronous_commit TO OFF")
        marks = ", ".join(["%s"] * len(keys))
        # Raw SQL: adapt datetimes as the ORM stored them (SQLite keeps naive UTC text).
        adapt = connection.ops.adapt_datetimefield_value
        claimed = adapt(claimed_at)
        cur.execute(
            f"UPDATE {quoted} SET state = 'sent', sent_at = %s "
            f"WHERE id IN ({marks}) AND state = 'sending' AND claimed_at = %s",
            [adapt(timezone.now()), *keys, claimed],
        )
        cur.execute(
            f"SELECT id FROM {quoted} WHERE id IN ({marks}) AND state = 'sent' AND claimed_at = %s", [*keys, claimed]
        )
        return {row[0] for row in cur.fetchall()}
