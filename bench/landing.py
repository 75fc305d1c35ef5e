#!/usr/bin/env python
"""The landing page at the tracked link under concurrent load vs a bare Django view, same server,
same run.

Serves the project with gunicorn (sync workers) on PostgreSQL, with a plan whose hard close moved
BENCH_CONVERSATIONS conversations and a branded landing page, then drives it with a Python load
generator (processes x threads, keep-alive connections, a browser's User-Agent):

  * the bare view ``/bench/bare`` (bench/webhook_urls.py: Django's floor), and
  * ``/r/<reference>``: the landing page of one of the moved conversations, in turn, so every
    request finds the conversation and its plan's targets and branding, records the visit (a
    person's first of the day, or a repeat: DUSK_TRACKED_LINK_RATE is lifted so every request
    records one) and renders the page in the conversation's language. As deployed, the visit goes
    to the web process's journal, which the process stores in batches (DUSK_VISIT_JOURNAL,
    handoff/services/journal.py); `DUSK_VISIT_JOURNAL=0` measures each landing committing its own.

Interleaved rounds (bare, then landing, BENCH_ROUNDS times); each landing round is compared with
the bare round just before it (the machine is shared and its speed drifts) and the result is the
median of those paired ratios. The landing page is served by its own handler and middleware list
(DUSK_LANDING_MIDDLEWARE, portal/handlers.py); the same bare view under /landing/ is measured too,
after each landing round, and the landing's ratio to it printed for reference (how much of the
result is the shorter list). Prints req/s, p50 and p99 of each, checks that every answer was a 200
and that exactly one visit per landing answer is in the table once the server has stopped, and
ends with
``RESULT landing_vs_bare=<median landing/bare> target=>=0.5``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dusk python bench/landing.py
"""

import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("BENCH_DB", "dusk_bench_landing")
DURATION = float(os.environ.get("BENCH_SECONDS", 5))
WORKERS = int(os.environ.get("BENCH_WORKERS", 2 * (os.cpu_count() or 1)))
CLIENT_PROCESSES = int(os.environ.get("BENCH_CLIENTS", 2))
THREADS = int(os.environ.get("BENCH_THREADS", 8))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 5))
CONVERSATIONS = int(os.environ.get("BENCH_CONVERSATIONS", 2000))
# The bare view again under /landing/, so the landing's handler and middleware serve it.
LEAN_BARE = "/landing/bench-bare"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def _bench_url() -> str:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dusk")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/landing.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    return url.rsplit("/", 1)[0] + "/" + BENCH_DB


def _env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", "memory://"),
        "DUSK_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DUSK_TRACKED_LINK_RATE": "1000000000",
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
    }


def setup(url: str) -> list[str]:
    """Fresh database; a plan that moved CONVERSATIONS conversations of an X channel, branded;
    returns their references (in a child so Django stays out of this process)."""
    import psycopg

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    code = f"""
import django, json
django.setup()
from datetime import time as clock, timedelta
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.utils import timezone
from channels_app.models import Channel, Conversation, RedirectTarget, PlanState, SunsetPlan, PlanChannel, ChannelState
from channels_app.plans.services.landing import save_landing_page
call_command("migrate", verbosity=0)
manager = User.objects.create_user("bench-manager", "m@example.com", "x")
manager.groups.set(Group.objects.filter(name="manager"))
channel = Channel.objects.create(kind="x", name="Bench X", handle="@brand", state=ChannelState.RETIRED)
# The landing page reads an approved plan and its targets; the run itself is not what is measured.
plan = SunsetPlan.objects.create(title="Retire X", author=manager, state=PlanState.COMPLETED)
PlanChannel.objects.create(plan=plan, channel=channel, is_open=False)
targets = RedirectTarget.objects.bulk_create([
    RedirectTarget(plan=plan, position=0, kind="phone", label="Phone support", value="+33 1 23 45 67 89"),
    RedirectTarget(plan=plan, position=1, kind="url", label="Web form", value="https://help.example.com/contact"),
    RedirectTarget(plan=plan, position=2, kind="app", label="Brand app", value="https://app.example.com/support"),
])
now = timezone.now()
locales = ["en", "fr", "id", ""]
Conversation.objects.bulk_create([
    Conversation(channel=channel, platform_thread_id=f"t{{i}}", customer_id=f"c{{i}}", locale=locales[i % 4],
                 state="redirected", redirected_to=targets[1], opened_at=now, last_message_at=now)
    for i in range({CONVERSATIONS})
], batch_size=1000)
save_landing_page(actor=manager, plan=plan, display_name="Brand Co", accent="#aa3300", reference_param="ref",
                  phone_opens=clock(9), phone_closes=clock(18), phone_zone="Europe/Paris")
print(json.dumps(list(Conversation.objects.values_list("reference", flat=True))))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**_env(url), "DATABASE_POOL": "0"},
                         capture_output=True, text=True)  # fmt: skip
    if out.returncode:
        sys.exit(f"setup failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(url: str, port: int, log: Path) -> subprocess.Popen:
    # The bare view /bench/bare lives in bench/webhook_urls.py, served by bench/webhook_settings.py.
    env = {**_env(url), "DJANGO_SETTINGS_MODULE": "webhook_settings"}
    command = [
        sys.executable, "-m", "gunicorn", "portal.wsgi:application",
        "--worker-class", "sync", "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}",
        "--pythonpath", str(BENCH), "--log-level", "warning", "--backlog", "2048",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/bench/bare")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None:
            break
        time.sleep(0.2)
    server.kill()
    sys.exit(f"gunicorn did not come up:\n{log.read_text()[-4000:]}")


def _client(port: int, paths: list[str], seconds: float, offset: int, queue) -> None:
    """THREADS threads on keep-alive connections, each walking `paths` from its own offset."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run(start: int) -> None:
        conn = HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        seen: dict[int, int] = {}
        k = start
        while time.monotonic() < stop:
            path = paths[k % len(paths)]
            k += 1
            began = time.perf_counter()
            try:
                conn.request("GET", path, headers={"User-Agent": BROWSER, "Accept-Language": "fr-FR,fr;q=0.9"})
                response = conn.getresponse()
                response.read()
            except OSError:
                conn.close()
                conn = HTTPConnection("127.0.0.1", port, timeout=10)
                seen[-1] = seen.get(-1, 0) + 1
                continue
            mine.append(time.perf_counter() - began)
            seen[response.status] = seen.get(response.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for status, n in seen.items():
                statuses[status] = statuses.get(status, 0) + n

    threads = [threading.Thread(target=run, args=(offset * 7919 + t * 104729,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put((latencies, statuses))


def drive(port: int, paths: list[str], seconds: float) -> dict:
    queue = multiprocessing.Queue()
    began = time.monotonic()
    clients = [
        multiprocessing.Process(target=_client, args=(port, paths, seconds, n, queue)) for n in range(CLIENT_PROCESSES)
    ]
    for client in clients:
        client.start()
    results = [queue.get() for _ in clients]
    for client in clients:
        client.join()
    elapsed = time.monotonic() - began
    latencies = sorted(x for lat, _s in results for x in lat)
    statuses: dict[int, int] = {}
    for _lat, seen in results:
        for status, n in seen.items():
            statuses[status] = statuses.get(status, 0) + n
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else 0.0,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else 0.0,
        "statuses": statuses,
    }


def _drain_journal(url: str, directory: Path) -> str:
    """Store what the web processes' journal still holds (they store it themselves about every
    second and at exit; this catches one killed on the way out)."""
    out = subprocess.run(
        [sys.executable, "manage.py", "drain_visit_journal", "--directory", str(directory)],
        cwd=ROOT, env={**_env(url), "DATABASE_POOL": "0"}, capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode:
        sys.exit(f"drain_visit_journal failed:\n{out.stderr[-4000:]}")
    return out.stdout.strip()


def _visits(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT kind, count(*) FROM channels_app_landingvisit GROUP BY kind").fetchall()
    return dict(rows)


def main() -> None:
    url = _bench_url()
    references = setup(url)
    landing_paths = [f"/r/{reference}" for reference in references]
    workdir = Path(tempfile.mkdtemp(prefix="dusk-bench-landing-"))
    os.environ["DUSK_VISIT_JOURNAL_DIR"] = str(workdir / "visit-journal")  # the web processes' journal
    port = free_port()
    server = serve(url, port, workdir / "gunicorn.log")
    results: dict[str, list[dict]] = {"bare": [], "landing": [], "bare_lean": []}
    try:
        drive(port, ["/bench/bare"], 1.5)  # warm both up
        warm = drive(port, landing_paths, 1.5)
        for round_no in range(ROUNDS):
            series = (("bare", ["/bench/bare"]), ("landing", landing_paths), ("bare_lean", [LEAN_BARE]))
            for name, paths in series:
                result = drive(port, paths, DURATION)
                if set(result["statuses"]) != {200}:
                    sys.exit(f"{name}: answers other than 200 during the run: {result['statuses']}")
                results[name].append(result)
                paired = f"  ratio {result['rps'] / results['bare'][-1]['rps']:.2f}" if name != "bare" else ""
                print(
                    f"round {round_no + 1} {name:8}: {result['rps']:8.0f} req/s  p50 {result['p50_ms']:6.1f} ms  "
                    f"p99 {result['p99_ms']:6.1f} ms  ({result['requests']} requests){paired}"
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"journal after the server stopped: {_drain_journal(url, workdir / 'visit-journal')}")
    visits = _visits(url)
    served = sum(r["requests"] for r in results["landing"]) + warm["statuses"].get(200, 0)
    lean = sorted(w["rps"] / b["rps"] for b, w in zip(results["bare_lean"], results["landing"], strict=True))
    print(f"recorded visits: {visits} for {served} landing answers (the warm-up's included)")
    if visits.get("human", 0) == 0 or sum(visits.values()) != served:
        sys.exit("the landing page did not record exactly one visit per answer")
    for name, runs in results.items():
        rps = sum(r["rps"] for r in runs) / len(runs)
        p50 = sorted(r["p50_ms"] for r in runs)[len(runs) // 2]
        p99 = max(r["p99_ms"] for r in runs)
        print(
            f"{name:8}: {rps:8.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
            f"(gunicorn sync x{WORKERS}, {CLIENT_PROCESSES}x{THREADS} client connections)"
        )
    ratios = sorted(w["rps"] / b["rps"] for b, w in zip(results["bare"], results["landing"], strict=True))
    print(f"paired ratios: {' '.join(f'{r:.2f}' for r in ratios)}")
    # The landing page runs the landing's own middleware list (DUSK_LANDING_MIDDLEWARE); the same
    # bare view on that list says how much of the ratio is the list rather than the page.
    print(
        f"for reference, landing vs the bare view on the landing's middleware: median "
        f"{statistics.median(lean):.2f} ({' '.join(f'{r:.2f}' for r in lean)})"
    )
    print(f"RESULT landing_vs_bare={statistics.median(ratios):.2f} target=>=0.5")


if __name__ == "__main__":
    main()
