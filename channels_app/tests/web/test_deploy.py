"""The deploy as docs/operations.md describes it: deploy/run-process starts the processes (the
same commands the Procfile and the systemd units run), with the README's production settings."""

import contextlib
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from channels_app.tests.support.browser import Session
from channels_app.tests.support.factories import ChannelFactory, ConversationFactory
from channels_app.tests.support.helpers import approved_plan, readme_production_env, wait_for

ONE_YEAR = 365 * 24 * 3600
ROOT = Path(__file__).resolve().parents[3]


def start_web(processes, tmp_path, settings, **overrides: str) -> str:
    """`release` (migrate, collectstatic) then `web`, as a deploy does, with the README's
    production variables pointed at this machine's database, broker and cache; returns the URL."""
    static_root = tmp_path / "static"
    here = processes.base_env()
    env = {
        **readme_production_env(),
        "DATABASE_URL": here["DATABASE_URL"],
        "CELERY_BROKER_URL": here["CELERY_BROKER_URL"],
        "DUSK_CACHE_URL": here["CELERY_BROKER_URL"],
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DUSK_STATIC_ROOT": str(static_root),
        "DUSK_WEB_BIND": "127.0.0.1:0",
        "DUSK_WEB_WORKERS": "2",
        **overrides,
    }
    # Sessions made here must hold for gunicorn: the auth hash is keyed on the secret key.
    settings.SECRET_KEY = env["DJANGO_SECRET_KEY"]
    release = processes.run_process("release", **env)
    assert release.proc.wait(timeout=180) == 0, release.log()
    assert (static_root / "staticfiles.json").exists(), release.log()
    web = processes.run_process("web", **env)
    web.wait_ready(marker="Booting worker")
    port = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", web.log()).group(1)
    return f"http://127.0.0.1:{port}"


@pytest.mark.browser
def test_gunicorn_with_production_settings_serves_the_styled_portal(processes, chromium, manager, tmp_path, settings):
    base_url = start_web(processes, tmp_path, settings)
    # The session a sign-in would give (the cookie is Secure in production; the test browser
    # talks plain HTTP to gunicorn, as the TLS proxy does).
    client = Client()
    client.force_login(manager)
    session = Session(chromium, base_url, "deploy-dashboard")
    session.context.set_extra_http_headers({"X-Forwarded-Proto": "https"})
    session.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}])
    try:
        page = session.goto("/")
        page.wait_for_load_state("networkidle")
        session.shot("deploy-dashboard")
        assert page.url == base_url + "/", page.url  # the dashboard, not the sign-in page
        assert page.get_by_role("heading", level=1).count() >= 1
        # The stylesheet applied: the top bar is the dark flex row dusk.css draws.
        topbar = page.locator("header.topbar")
        assert topbar.evaluate("e => getComputedStyle(e).display") == "flex"
        assert topbar.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(29, 35, 48)"
        # htmx loaded and running.
        assert page.evaluate("typeof window.htmx") == "object"
        assert page.evaluate("window.htmx.version")
        # Every static file by its hashed name.
        hrefs = page.evaluate(
            "[...document.querySelectorAll('link[rel=stylesheet], script[src], link[rel=icon]')]"
            ".map(e => e.href || e.src)"
        )
        assert len(hrefs) >= 4, hrefs
        for href in hrefs:
            assert re.search(r"/static/.+\.[0-9a-f]{12}\.(css|js|svg)$", href), href
    finally:
        session.close()
    missing = [e for e in session.console_errors if "status of 404" in e]
    assert not missing, missing
    assert not session.violations, session.violations
    # Far-future cache headers on hashed files, compressed when the client accepts it.
    for href in hrefs:
        request = urllib.request.Request(href, headers={"X-Forwarded-Proto": "https", "Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            cache = response.headers["Cache-Control"]
            max_age = int(re.search(r"max-age=(\d+)", cache).group(1))
            assert max_age >= ONE_YEAR and "immutable" in cache, (href, cache)
            if href.endswith((".css", ".js")):
                assert response.headers["Content-Encoding"] == "gzip", href


@pytest.mark.worker
def test_healthz_turns_503_within_the_threshold_once_beat_stops(deployed, settings):
    # A short threshold so the test is quick; production's default is 60 s.
    settings.DUSK_BEAT_STALE_AFTER = 3
    client = Client()
    deployed("worker").wait_ready()
    beat = deployed("beat")
    wait_for(
        lambda: client.get(reverse("healthz")).status_code == 200,
        timeout=60,
        message=f"healthz 200 with beat running:\n{beat.log()}",
    )
    body = client.get(reverse("healthz")).json()
    assert body["beat"]["ok"] is True and body["beat"]["last_sweep_age_s"] < 3
    beat.stop()
    stopped = time.monotonic()
    wait_for(lambda: client.get(reverse("healthz")).status_code == 503, timeout=10, message="healthz 503")
    # Within the threshold (plus one sweep interval and a second of slack for a loaded machine).
    assert time.monotonic() - stopped <= 3 + 0.5 + 1.5
    body = client.get(reverse("healthz")).json()
    assert body["beat"]["ok"] is False
    assert body["database"] == {"ok": True} and body["broker"] == {"ok": True}


def test_procfile_and_systemd_units_start_everything_through_run_process():
    script = (ROOT / "deploy" / "run-process").read_text()
    names = {name.strip() for label in re.findall(r"^  ([\w| -]+)\)", script, re.M) for name in label.split("|")}
    assert {"release", "web", "worker", "beat", "worker-cutover", "worker-replies"} <= names
    procfile = (ROOT / "deploy" / "Procfile").read_text()
    for line in procfile.splitlines():
        if line and not line.startswith("#"):
            kind, command = line.split(":", 1)
            assert command.split() == ["deploy/run-process", kind], line
    units = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
    assert len(units) == 4
    for unit in units:
        (start,) = re.findall(r"^ExecStart=(.*)$", unit.read_text(), re.M)
        program, name = start.split()
        assert program == "/srv/dusk/deploy/run-process", unit.name
        queue_names = {n.removeprefix("worker-") for n in names if n.startswith("worker-")}
        assert name in names or (name == "worker-%i" and {"cutover", "replies", "polling", "email"} <= queue_names)


def test_run_process_refuses_an_unknown_name():
    result = subprocess.run([ROOT / "deploy" / "run-process", "webb"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "usage: deploy/run-process" in result.stderr


def _gunicorn_workers(pid: int) -> list[int]:
    """The gunicorn workers under process `pid`: gunicorn processes whose parent is gunicorn."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                parents.pop(int(entry.name), None)
                continue
            if b"gunicorn" not in command:
                parents.pop(int(entry.name))
    below, todo = set(), [pid]
    while todo:
        current = todo.pop()
        for child, parent in parents.items():
            if parent == current and child not in below:
                below.add(child)
                todo.append(child)
    return sorted(p for p in below if parents.get(p) in parents)


def test_gunicorn_journals_each_landing_and_a_killed_worker_loses_none(
    processes, tmp_path, settings, manager, approver
):
    """The deployed web process with the visit journal (production's default on PostgreSQL): 60
    landings by 30 visitors, every worker SIGKILLed after the first 30 with its journal file
    unstored; once the web process has stopped and the journal is drained, exactly 60 visits are
    in the table, 30 of them first visits."""
    from channels_app.handoff.services.journal import drain_directory
    from channels_app.models import LandingVisit

    channel = ChannelFactory(kind="x", name="Brand on X")
    conversation = ConversationFactory(channel=channel, locale="fr")
    approved_plan(manager=manager, approver=approver, channels=[channel])
    journal_dir = tmp_path / "visit-journal"
    base_url = start_web(
        processes,
        tmp_path,
        settings,
        DUSK_VISIT_JOURNAL="1",
        DUSK_VISIT_JOURNAL_DIR=str(journal_dir),
        DUSK_VISIT_JOURNAL_SECONDS="3600",  # nothing stored by the timer: the kill finds it all unstored
        DUSK_TRACKED_LINK_RATE="1000",
    )
    web = processes.started[-1]

    def land(n: int) -> None:
        for i in range(n):
            request = urllib.request.Request(
                f"{base_url}/r/{conversation.reference}",
                headers={"User-Agent": f"Mozilla/5.0 visitor {i}", "X-Forwarded-Proto": "https"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200

    land(30)
    workers = _gunicorn_workers(web.proc.pid)
    journal_files = sorted(p.name for p in journal_dir.iterdir() if not p.name.startswith("."))
    assert journal_files and not LandingVisit.objects.exists()
    assert len(workers) == 2, workers
    for pid in workers:  # each worker dies with SIGKILL, its journal file unstored; gunicorn starts others
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _answers(base_url), timeout=30)
    land(30)
    web.stop()  # graceful: the new workers store their own files as they exit
    drain_directory(journal_dir)  # and the killed ones' files, as any process's next drain would
    assert LandingVisit.objects.filter(conversation=conversation).count() == 60
    # 30 visitors, each twice: the first visit of each counts, whichever file was stored first.
    assert LandingVisit.objects.filter(conversation=conversation, kind="human").count() == 30
    assert not [p for p in journal_dir.iterdir() if not p.name.startswith(".")]


def _answers(base_url: str) -> bool:
    """Whether a worker answers (an unknown reference: a 404 page that records nothing)."""
    request = urllib.request.Request(f"{base_url}/r/DSK-NONE0000", headers={"X-Forwarded-Proto": "https"})
    try:
        urllib.request.urlopen(request, timeout=2).close()
    except urllib.error.HTTPError as answer:
        return answer.code == 404
    except OSError:
        return False
    return False
