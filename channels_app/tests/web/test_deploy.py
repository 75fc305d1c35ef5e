"""The deploy as docs/operations.md describes it: deploy/run-process starts the processes (the
same commands the Procfile and the systemd units run), with the README's production settings."""

import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from channels_app.tests.support.browser import Session
from channels_app.tests.support.helpers import readme_production_env, wait_for

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
