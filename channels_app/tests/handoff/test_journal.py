"""The landing page's visit journal (handoff/services/journal.py): a landing appends its visit to
its process's file, the process stores the files in batches, a killed process's file is stored
by the next, nothing is stored twice, and a journal that cannot be written costs no visit."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app.handoff.services import journal as journal_module
from channels_app.handoff.services.journal import VisitJournal, drain_directory, drain_file
from channels_app.models import LandingVisit
from channels_app.tests.support.factories import ConversationFactory
from channels_app.tests.support.helpers import BROWSER

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def visit_journal(settings, tmp_path):
    settings.DUSK_VISIT_JOURNAL = True
    settings.DUSK_VISIT_JOURNAL_DIR = str(tmp_path / "journal")
    settings.DUSK_VISIT_JOURNAL_SECONDS = 3600  # drained by the test, not by the thread's timer
    journal_module._JOURNAL = None
    visits = journal_module.journal()
    yield visits
    visits.stop()
    journal_module._JOURNAL = None


def landing(client, reference, **headers):
    headers.setdefault("HTTP_USER_AGENT", BROWSER)
    return client.get(reverse("tracked_redirect", args=[reference]), **headers)


def _kinds(conversation) -> list[str]:
    return list(
        LandingVisit.objects.filter(conversation=conversation).order_by("at", "id").values_list("kind", flat=True)
    )


def test_a_landing_writes_its_visit_to_the_journal_and_the_drain_stores_it_as_the_request_would(
    client, moved, visit_journal
):
    conversation, _plan = moved
    assert landing(client, conversation.reference).status_code == 200  # a person
    assert landing(client, conversation.reference).status_code == 200  # the same person again
    assert client.head(reverse("tracked_redirect", args=[conversation.reference])).status_code == 200
    assert landing(client, conversation.reference, HTTP_USER_AGENT="Twitterbot/1.0").status_code == 200
    assert landing(client, conversation.reference, REMOTE_ADDR="203.0.113.9").status_code == 200  # another person
    # Nothing in the table yet: the request only wrote a line.
    assert not LandingVisit.objects.exists()
    assert visit_journal.drain() == 5
    assert _kinds(conversation) == ["human", "repeat", "head", "crawler", "human"]
    assert not list(Path(visit_journal.directory).iterdir())  # stored, then removed
    # The next day the same person counts again; within the day, a repeat against the table.
    assert landing(client, conversation.reference).status_code == 200
    assert visit_journal.drain() == 1
    assert _kinds(conversation)[-1] == "repeat"
    LandingVisit.objects.filter(conversation=conversation).update(at=timezone.now() - timedelta(days=2))
    assert landing(client, conversation.reference).status_code == 200
    visit_journal.drain()
    assert _kinds(conversation)[-1] == "human"


def test_an_unknown_reference_writes_nothing(client, moved, visit_journal):
    assert landing(client, "DSK-NOPE0000").status_code == 404
    assert visit_journal.drain() == 0
    assert not LandingVisit.objects.exists()


def test_a_file_stored_twice_adds_nothing(moved, visit_journal, tmp_path):
    conversation, _plan = moved
    now = timezone.now()
    for i in range(3):
        visit_journal.append(
            conversation_id=conversation.pk, robot_kind=None, visitor="v", at=now + timedelta(seconds=i)
        )
    ready = visit_journal._close_file()
    copy = ready.with_name(ready.name.replace(".ready", "-copy.ready"))
    copy.write_bytes(ready.read_bytes())  # as if the process died between the commit and the removal
    assert drain_file(ready) == 3
    assert drain_file(copy) == 0
    assert _kinds(conversation) == ["human", "repeat", "repeat"]
    assert not copy.exists()


def test_a_file_its_writer_holds_is_left_to_it_and_an_orphan_is_stored(moved, visit_journal):
    conversation, _plan = moved
    visit_journal.append(conversation_id=conversation.pk, robot_kind=None, visitor="v", at=timezone.now())
    # Another process's drain (a second journal here) does not take a file its writer holds.
    other = VisitJournal(visit_journal.directory, 3600)
    assert drain_directory(other.directory) == 0
    assert not LandingVisit.objects.exists()
    # A file nobody holds (its process is gone) is stored by whoever drains next.
    orphan = Path(visit_journal.directory) / "visits-deadbeef0000-000001.open"
    orphan.write_text(f"deadbeef00001.1\t{conversation.pk}\tcrawler\tbot\t{timezone.now().isoformat()}\n")
    assert drain_directory(other.directory) == 1
    assert _kinds(conversation) == ["crawler"]
    assert visit_journal.drain() == 1


def test_a_visit_whose_conversation_is_gone_is_dropped_and_a_torn_line_skipped(moved, visit_journal):
    conversation, plan = moved
    doomed = ConversationFactory(channel=conversation.channel)
    now = timezone.now()
    visit_journal.append(conversation_id=doomed.pk, robot_kind=None, visitor="v", at=now)
    visit_journal.append(conversation_id=conversation.pk, robot_kind=None, visitor="v", at=now)
    ready = visit_journal._close_file()
    with ready.open("ab") as file:
        file.write(b"torn\t12")  # a line cut short by a crash of the machine
    doomed.delete()
    assert drain_file(ready) == 1
    assert _kinds(conversation) == ["human"]


def test_a_journal_that_cannot_be_written_costs_no_visit(client, moved, settings, tmp_path):
    conversation, _plan = moved
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the journal's directory should be")
    settings.DUSK_VISIT_JOURNAL = True
    settings.DUSK_VISIT_JOURNAL_DIR = str(blocked)
    journal_module._JOURNAL = None
    try:
        assert landing(client, conversation.reference).status_code == 200
    finally:
        journal_module._JOURNAL = None
    # Written straight to the database instead.
    assert _kinds(conversation) == ["human"]


def test_a_killed_process_loses_no_visit(moved, visit_journal):
    """A real process appends visits and is SIGKILLed before it stores them; the next drain
    stores every one, once."""
    conversation, _plan = moved
    code = f"""
import os, signal, django
django.setup()
from django.conf import settings
from django.utils import timezone
from channels_app.handoff.services.journal import VisitJournal
journal = VisitJournal({str(visit_journal.directory)!r}, 3600)
for i in range(50):
    journal.append(conversation_id={conversation.pk}, robot_kind=None, visitor=f"v{{i}}", at=timezone.now())
print("written", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == -9 and "written" in out.stdout, out.stderr[-2000:]
    time.sleep(0.1)
    assert visit_journal.drain() == 50
    assert visit_journal.drain() == 0
    assert LandingVisit.objects.filter(conversation=conversation, kind="human").count() == 50


def test_the_process_stores_its_journal_by_itself(client, moved, visit_journal):
    conversation, _plan = moved
    visit_journal.interval = 0.2
    assert landing(client, conversation.reference).status_code == 200  # starts the journal's thread
    deadline = time.monotonic() + 10
    while not LandingVisit.objects.filter(conversation=conversation).exists():
        assert time.monotonic() < deadline, "the journal's thread stored nothing"
        time.sleep(0.1)
    assert _kinds(conversation) == ["human"]


def test_drains_racing_a_writer_that_opens_and_closes_files_lose_nothing(moved, visit_journal):
    """A process writes 3,000 visits, closing its file every second one, while this one drains the
    directory as fast as it can: every visit is stored once (a drainer never takes a file its
    writer has just made, nor one it still writes)."""
    conversation, _plan = moved
    code = f"""
import django
django.setup()
from django.utils import timezone
from channels_app.handoff.services.journal import VisitJournal
journal = VisitJournal({str(visit_journal.directory)!r}, 3600)
journal._ready_to_write = journal._ready_to_write  # no thread needed: this process only writes
for i in range(3000):
    journal.append(conversation_id={conversation.pk}, robot_kind="crawler", visitor=f"v{{i}}", at=timezone.now())
    if i % 2 == 1:
        journal._close_file()
journal._close_file()
journal.stop()
print("done", flush=True)
"""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "DUSK_VISIT_JOURNAL_SECONDS": "3600"}
    writer = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    stored = 0
    while writer.poll() is None:
        stored += drain_directory(visit_journal.directory)
    assert writer.returncode == 0
    stored += drain_directory(visit_journal.directory)
    assert stored == 3000
    assert LandingVisit.objects.filter(conversation=conversation).count() == 3000
    assert not [p for p in Path(visit_journal.directory).iterdir() if not p.name.startswith(".")]


def test_a_file_stored_late_gives_the_same_counts_as_one_stored_in_order(moved, visit_journal):
    conversation, _plan = moved
    now = timezone.now()
    early = VisitJournal(visit_journal.directory, 3600)  # a process killed before it stored this
    early.append(conversation_id=conversation.pk, robot_kind=None, visitor="v", at=now - timedelta(hours=3))
    early_file = early._close_file()
    visit_journal.append(conversation_id=conversation.pk, robot_kind=None, visitor="v", at=now - timedelta(hours=1))
    visit_journal.append(conversation_id=conversation.pk, robot_kind=None, visitor="w", at=now)
    visit_journal._close_file()
    later_files = [p for p in Path(visit_journal.directory).iterdir() if p != early_file and p.suffix == ".ready"]
    assert [drain_file(p) for p in later_files] == [2]
    assert drain_file(early_file) == 1
    rows = list(LandingVisit.objects.order_by("at").values_list("visitor", "kind"))
    # v's first visit of the day is the one three hours ago; w is another visitor.
    assert rows == [("v", "human"), ("v", "repeat"), ("w", "human")]


def test_a_short_write_is_refused_and_the_torn_line_skipped(moved, visit_journal):
    """A real short write: a process whose files may not grow past 250 bytes (the kernel's
    RLIMIT_FSIZE, as a full disk would) appends 10 visits. The one cut short is refused (so its
    caller commits it itself), the file with the torn line is closed, the next visit starts a new
    file, and the drain stores every accepted visit and no torn one."""
    conversation, _plan = moved
    code = f"""
import resource, signal, django
django.setup()
from django.utils import timezone
from channels_app.handoff.services.journal import VisitJournal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
journal = VisitJournal({str(visit_journal.directory)!r}, 3600)
journal._ready_to_write()
resource.setrlimit(resource.RLIMIT_FSIZE, (250, 250))
accepted = refused = 0
for i in range(10):
    try:
        journal.append(conversation_id={conversation.pk}, robot_kind="crawler", visitor=f"v{{i}}", at=timezone.now())
        accepted += 1
    except OSError:
        refused += 1
journal._close_file()
journal.stop()
print(accepted, refused, flush=True)
"""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    accepted, refused = map(int, out.stdout.split())
    assert refused >= 1 and accepted + refused == 10
    assert drain_directory(visit_journal.directory) == accepted
    assert LandingVisit.objects.filter(conversation=conversation).count() == accepted


def test_only_whole_lines_are_visits():
    # A line cut inside its instant can still parse (a date alone is an ISO date): without its
    # newline it is a torn write, never a visit.
    whole = b"k1\t7\t\tv\t2026-12-05T03:25:11.123456+00:00\n"
    assert len(journal_module.parse(whole + b"k2\t7\t\tv\t2026-12-05")) == 1
    assert len(journal_module.parse(whole + b"k2\t7\t\tv\t2026-12-05T03:25:11+00:00\n")) == 2
