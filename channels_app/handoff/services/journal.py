"""The landing page's visit journal (PostgreSQL only; DUSK_VISIT_JOURNAL).

A landing writes its visit as one line appended to its web process's journal file (one `write`
to the page cache, no database write and no commit on the request's path) and a thread of that
process moves the journal into `LandingVisit` about every DUSK_VISIT_JOURNAL_SECONDS, many
visits in one statement. A killed process loses nothing: its file stays on disk and the next
process to drain finds it (each file is locked by its writer while it is written, so a file
nobody holds is an orphan). Each line carries a key stored with its row (unique), so a file
drained twice, after a crash between the database's commit and the file's removal, adds nothing.
What it gives up: the last second of page views of a machine whose operating system crashes,
and the funnel shows a visit a second or so later.

A person's visit is decided when it is drained, as the request would have (`person_kind_sql`): a
repeat when the same visitor opened the same reference within REPEAT_WINDOW before it, in the
table or earlier in the same batch; and a file stored late turns the stored first visits it
precedes within the window into repeats, so the order files are stored in does not change the
counts.
"""

import atexit
import fcntl
import logging
import os
import secrets
import threading
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from channels_app.handoff.selectors import REPEAT_WINDOW, person_kind_sql
from channels_app.models import Conversation, LandingVisit, VisitKind

logger = logging.getLogger(__name__)

PREFIX = "visits-"
OPEN, READY, NEW = ".open", ".ready", ".new"
FIELDS = 5  # key, conversation id, robot kind ("" for a person), visitor, instant
STORE_LOCK = 0x6475736B0001  # the advisory lock stores take ("dusk" and 1)


class VisitJournal:
    """One per web process: appends from request threads, drains from its own thread."""

    def __init__(self, directory: Path | str, interval: float):
        self.configured = directory  # as the setting gives it (journal() compares it)
        self.directory = Path(directory)
        self.interval = interval
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._fd: int | None = None
        self._path: Path | None = None
        self._token = ""
        self._files = 0
        self._lines = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- writing (the request's path) ---------------------------------------------------------

    def append(self, *, conversation_id: int, robot_kind: str | None, visitor: str, at: datetime) -> None:
        """Write one visit (raises OSError when the journal cannot be written: the caller then
        records it in the database itself)."""
        with self._lock:
            self._ready_to_write()
            self._lines += 1
            key = f"{self._token}{self._files:x}.{self._lines:x}"
            data = f"{key}\t{conversation_id}\t{robot_kind or ''}\t{visitor}\t{at.isoformat()}\n".encode()
            written = os.write(self._fd, data)
            if written != len(data):
                # A short write (a full disk): the file now ends in a torn line, which a drain
                # skips. It is closed, so the next visit starts a new file, and this visit is
                # refused (the caller commits it itself).
                self._close_locked()
                raise OSError(f"visit journal: {written} of {len(data)} bytes written")

    def _ready_to_write(self) -> None:
        if self._pid != os.getpid():  # first use in this process (or a fork): its own file and thread
            self._pid = os.getpid()
            self._token = secrets.token_hex(6)
            self._fd = None
            self._files = 0
            self._thread = None
            atexit.register(self.close)
        if self._fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._files += 1
            self._lines = 0
            name = f"{PREFIX}{self._token}-{self._files:06d}"
            # Made and locked under a name drainers do not read, then given its journal name: a
            # drainer never finds it unlocked (it would take it for a dead process's).
            new, path = self.directory / f".{name}{NEW}", self.directory / f"{name}{OPEN}"
            fd = os.open(new, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # held while this process writes it
                os.rename(new, path)
            except OSError:
                os.close(fd)
                raise
            self._fd, self._path = fd, path
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="dusk-visit-journal", daemon=True)
            self._thread.start()

    def _close_file(self) -> Path | None:
        """Close this process's file for writing (it becomes `.ready`): None when it has nothing."""
        with self._lock:
            return self._close_locked()

    def _close_locked(self) -> Path | None:
        if self._fd is None or self._pid != os.getpid():
            return None
        if self._lines == 0:
            return None
        ready = self._path.with_suffix(READY)
        try:
            os.rename(self._path, ready)
        except OSError:  # removed by hand: what it held is gone, the next visit opens a new file
            logger.exception("visit journal: %s disappeared while written", self._path)
            ready = None
        os.close(self._fd)  # and with it the lock: any process may drain it now
        self._fd = None
        return ready

    # --- draining (its own thread) ------------------------------------------------------------

    def drain(self) -> int:
        """Close this process's file and move every journal file nobody holds into the table:
        the number of visits stored."""
        self._close_file()
        return drain_directory(self.directory)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.drain()
            except Exception:  # the database is away: the files wait for the next pass
                logger.exception("visit journal: drain failed; the files are kept for the next pass")
            finally:
                connection.close()

    def stop(self) -> None:
        """Stop this process's draining thread (what is written stays for the next drain)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=10)
        self._thread = None

    def close(self) -> None:
        """At the process's exit: store what it still holds (else its file waits for another)."""
        self._stop.set()
        if self._pid != os.getpid() or self._fd is None:
            return
        try:
            self.drain()
        except Exception:
            logger.exception("visit journal: the last drain failed; another process will store the file")


def drain_directory(directory: Path) -> int:
    """Store every journal file in `directory` that no process holds, oldest first."""
    try:
        entries = [entry for entry in os.scandir(directory) if entry.name.startswith(PREFIX)]
    except OSError:  # no journal yet, or not a directory
        return 0
    found = []
    for entry in entries:
        try:
            found.append((entry.stat().st_mtime, entry.name, Path(entry.path)))
        except FileNotFoundError:  # renamed or stored meanwhile
            continue
    return sum(drain_file(path) for _mtime, _name, path in sorted(found))


def drain_file(path: Path) -> int:
    """Store one journal file if no process holds it, then remove it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return 0
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # its writer, or another drainer, holds it
        if not path.exists():  # stored and removed by another drainer since it was opened
            return 0
        with os.fdopen(os.dup(fd), "rb") as file:
            data = file.read()
        rows = parse(data)
        stored = store(rows) if rows else 0
        os.unlink(path)
        return stored
    finally:
        os.close(fd)


def parse(data: bytes) -> list[tuple]:
    """The visits in a journal file. Only whole lines count: a write cut short (a full disk, a
    crash of the machine) leaves the file's last line without its newline, and a cut line may
    still look like one (an instant cut to its date parses), so it is left out, as is any line
    that is not a visit."""
    rows = []
    for raw in data.split(b"\n")[:-1]:
        fields = raw.decode("utf-8", "replace").split("\t")
        if len(fields) != FIELDS:
            continue
        key, conversation, robot, visitor, at = fields
        try:
            rows.append((key, int(conversation), robot, visitor, datetime.fromisoformat(at)))
        except ValueError:
            continue
    return rows


def _store_sql() -> str:
    visits, conversations = LandingVisit._meta.db_table, Conversation._meta.db_table
    return f"""
        WITH batch AS (
            SELECT b.* FROM unnest(%s::varchar[], %s::bigint[], %s::varchar[], %s::varchar[], %s::timestamptz[])
                AS b(key, conversation_id, robot, visitor, at)
            WHERE EXISTS (SELECT 1 FROM {conversations} c WHERE c.id = b.conversation_id)
        ),
        persons AS (
            SELECT b.*, lag(b.at) OVER (PARTITION BY b.conversation_id, b.visitor ORDER BY b.at, b.key) AS previous
            FROM batch b WHERE b.robot = ''
        ),
        -- A file stored late (its process was killed) holds visits older than rows already stored:
        -- a stored first visit within the window after one of them becomes a repeat, so the
        -- counts do not depend on the order files are stored in.
        demoted AS (
            UPDATE {visits} v SET kind = '{VisitKind.REPEAT}'
            FROM persons p
            WHERE v.conversation_id = p.conversation_id AND v.visitor = p.visitor
              AND v.kind = '{VisitKind.HUMAN}' AND v.at > p.at AND v.at < p.at + %s
            RETURNING v.id
        )
        INSERT INTO {visits} (journal_key, conversation_id, kind, visitor, at)
        SELECT key, conversation_id, robot, visitor, at FROM batch WHERE robot <> ''
        UNION ALL
        SELECT p.key, p.conversation_id,
               CASE WHEN p.previous > p.at - %s THEN '{VisitKind.REPEAT}'
                    ELSE {person_kind_sql(conversation="p.conversation_id", visitor="p.visitor", since="p.at - %s", until="p.at")}
               END,
               p.visitor, p.at
        FROM persons p
        ON CONFLICT (journal_key) WHERE journal_key > '' DO NOTHING
    """


def store(rows: list[tuple]) -> int:
    """Insert journal lines as visits in one statement (a line already stored adds nothing; one
    whose conversation is gone is dropped). Returns how many rows were added."""
    columns = list(zip(*rows, strict=True))
    with transaction.atomic(), connection.cursor() as cursor:
        # One store at a time across processes: each sees every batch stored before it, so two
        # files holding the same visitor's visits cannot both count a first one.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [STORE_LOCK])
        cursor.execute(_store_sql(), [list(column) for column in columns] + [REPEAT_WINDOW] * 3)
        return cursor.rowcount


_JOURNAL: VisitJournal | None = None
_JOURNAL_LOCK = threading.Lock()


def journal() -> VisitJournal | None:
    """This process's journal, or None when visits are written straight to the database
    (DUSK_VISIT_JOURNAL off, or not PostgreSQL). Called on every landing: no lock once made."""
    global _JOURNAL
    if not settings.DUSK_VISIT_JOURNAL or connection.vendor != "postgresql":
        return None
    found, directory = _JOURNAL, settings.DUSK_VISIT_JOURNAL_DIR
    if found is not None and found.configured == directory:
        return found
    with _JOURNAL_LOCK:
        if _JOURNAL is None or _JOURNAL.configured != directory:
            _JOURNAL = VisitJournal(directory, settings.DUSK_VISIT_JOURNAL_SECONDS)
        return _JOURNAL
