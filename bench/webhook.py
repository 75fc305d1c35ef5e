#!/usr/bin/env python
"""The X webhook under load vs a bare Django JsonResponse view, same server, same run.

Serves the project with gunicorn (sync workers) on PostgreSQL and a Redis broker, with a
retired X channel, then drives with wrk (a C load generator; Debian package ``wrk``):

  * the bare view ``/bench/bare`` (reads the body, answers JSON: Django's floor), and
  * the X webhook: pre-signed Account Activity deliveries, one new tweet each, so every
    request verifies the HMAC, parses, upserts the conversation, inserts the message and the
    auto-reply's outbox row (one statement on PostgreSQL) and queues the sender.

Interleaved rounds (bare, then webhook, BENCH_ROUNDS times). The machines this runs on are
shared and their speed drifts by a fifth within a minute, so each webhook round is compared with
the bare round just before it, and the result is the median of those paired ratios. Prints
req/s, p50 and p99 of both and each round's ratio, checks every accepted tweet was stored with
its reply row, and ends with ``RESULT webhook_vs_bare=<median webhook/bare> target=>=0.35``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dusk BENCH_BROKER_URL=redis://127.0.0.1:6379/14 \\
        python bench/webhook.py
"""

import csv
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "dusk_bench_webhook"
SECRET_ENV = "DUSK_CHANNEL_BENCH_X_SECRET"
SECRET = "bench-consumer-secret"
BRAND_ID = "783214"
DURATION = int(os.environ.get("BENCH_SECONDS", 6))
# Sync workers block while PostgreSQL flushes each commit to disk, so the webhook is sized like
# any I/O-bound gunicorn app: 4 workers per core (gunicorn's docs: 2-4 x cores). The bare view
# is served by the very same server.
WORKERS = int(os.environ.get("BENCH_WORKERS", 4 * (os.cpu_count() or 1)))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", 4 * WORKERS))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 5))
# Enough unique deliveries that wrk never has to send one twice (checked after each run).
PER_ROUND = int(os.environ.get("BENCH_PAYLOADS", 40_000))
SAMPLE = Path(os.environ.get("DUSK_SHARED_DATA", ROOT.parent / "shared" / "data")) / "twcs_sample.csv"


def _bench_url() -> str:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dusk")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/webhook.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    return url.rsplit("/", 1)[0] + "/" + BENCH_DB


def _broker_url() -> str:
    url = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
    if not url.startswith("redis://"):
        sys.exit("bench/webhook.py needs Redis for the broker: set BENCH_BROKER_URL=redis://...")
    return url


def _env(url: str, broker: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": broker,
        "DUSK_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        SECRET_ENV: SECRET,
    }


def setup(url: str, broker: str) -> int:
    """Fresh database, a retired X channel; returns its id (in a child so Django stays out of here)."""
    import psycopg

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    code = f"""
import django, json
django.setup()
from datetime import timedelta
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.utils import timezone
from channels_app.models import Channel
from channels_app.plans.services.plans import AutoReplyInput, PhaseInput, RedirectInput, approve_plan, create_plan, submit_plan
from channels_app.cutover.services.engine import claim_due_phases, run_cutover
call_command("migrate", verbosity=0)
manager = User.objects.create_user("bench-manager", "m@example.com", "x")
approver = User.objects.create_user("bench-approver", "a@example.com", "x")
manager.groups.set(Group.objects.filter(name="manager"))
approver.groups.set(Group.objects.filter(name="approver"))
from channels_app.tests.support.sandbox import bench_channel, bench_sandbox
bench_sandbox()  # the platform the preflight calls at approval and in the freeze step
channel = Channel.objects.create(kind="x", name="Bench X", handle="@brand",
                                 webhook_secret_env="{SECRET_ENV}", rate_limit_per_minute=100000,
                                 **{{**bench_channel("x"), "platform_account_id": "{BRAND_ID}"}})
at = (timezone.now() + timedelta(minutes=5)).replace(second=0, microsecond=0)
plan = create_plan(
    actor=manager, title="Retire X", channel_ids=[channel.pk],
    phases=[PhaseInput("hard_close", at.date(), at.time(), "UTC")],
    redirects=[RedirectInput("url", "Help centre", "https://help.example.com")],
    auto_replies=[AutoReplyInput("hard_close", "en", "Hi {{customer_name}}, we moved: {{redirect_url}} (ref {{reference}})")],
)
submit_plan(actor=manager, plan=plan)
approve_plan(actor=approver, plan=plan)
(run_id,) = claim_due_phases(now=at + timedelta(seconds=1))
assert run_cutover(run_id=run_id, worker_id="bench") in ("completed", "delivering")
channel.refresh_from_db()
assert channel.state == "retired"
print(json.dumps({{"channel": channel.pk}}))
"""
    env = {**_env(url, broker), "DATABASE_POOL": "0", "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"setup failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["channel"]


def _texts() -> list[str]:
    if SAMPLE.exists():
        with SAMPLE.open(encoding="utf-8", newline="") as handle:
            return [row["text"] for row in csv.DictReader(handle) if row["inbound"] == "True"]
    return [f"@brand where is my order {i}? It has been a week." for i in range(500)]


def write_payloads(path: Path, first_id: int, count: int) -> None:
    """One signed delivery per line, each a new tweet from a new customer."""
    from channels_app.platforms.adapters.base import sha256_b64_signature

    texts = _texts()
    stamp = time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime())
    with path.open("w", encoding="utf-8") as out:
        for n in range(first_id, first_id + count):
            tweet = {
                "created_at": stamp,
                "id": n,
                "id_str": str(n),
                "text": texts[n % len(texts)],
                "in_reply_to_status_id_str": None,
                "user": {"id": 10_000 + n, "id_str": str(10_000 + n), "name": f"Customer {n}", "screen_name": f"c{n}"},
                "lang": "en",
            }
            body = json.dumps({"for_user_id": BRAND_ID, "tweet_create_events": [tweet]}, ensure_ascii=False)
            out.write(f"{sha256_b64_signature(SECRET, body.encode())}\t{body}\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(url: str, broker: str, port: int, log: Path) -> subprocess.Popen:
    env = {**_env(url, broker), "DJANGO_SETTINGS_MODULE": "webhook_settings"}
    command = [
        sys.executable, "-m", "gunicorn", "portal.wsgi:application",
        "--worker-class", "sync", "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}",
        "--pythonpath", str(BENCH), "--log-level", "warning", "--backlog", "2048",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            # Up once it reaches the database and broker (no beat runs here, so not "ok" overall).
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
            if health["database"]["ok"] and health["broker"]["ok"]:
                return server
        except (httpx.HTTPError, ValueError):
            pass
        if server.poll() is not None:
            break
        time.sleep(0.2)
    server.kill()
    sys.exit(f"gunicorn did not come up:\n{log.read_text()[-4000:]}")


def drive(url: str, payloads: Path, seconds: int) -> dict:
    command = [
        "wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s",
        "-s", str(BENCH / "webhook.lua"), url, "--", str(payloads), "2",
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True)
    match = re.search(r"RESULTJSON (\{.*\})", out.stdout)
    if out.returncode or not match:
        sys.exit(f"wrk failed:\n{out.stdout}\n{out.stderr}")
    result = json.loads(match.group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def _count(url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        messages = conn.execute("SELECT count(*) FROM channels_app_message WHERE direction = 'in'").fetchone()[0]
        replies = conn.execute("SELECT count(*) FROM channels_app_outboxmessage WHERE kind = 'auto_reply'").fetchone()[
            0
        ]
    return messages, replies


def _flush(broker: str) -> None:
    import redis

    redis.Redis.from_url(broker).flushdb()  # the bench's own broker database: queued sender tasks


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("bench/webhook.py needs wrk: `make bench-webhook` installs it (apt-get install wrk)")
    url, broker = _bench_url(), _broker_url()
    channel_id = setup(url, broker)
    _flush(broker)
    workdir = Path(tempfile.mkdtemp(prefix="dusk-bench-webhook-"))
    port = free_port()
    server = serve(url, broker, port, workdir / "gunicorn.log")
    base = f"http://127.0.0.1:{port}"
    results: dict[str, list[dict]] = {"bare": [], "webhook": []}
    accepted = 0
    try:
        warm = workdir / "warm.txt"
        write_payloads(warm, 1_000_000_000, 3_000)
        drive(f"{base}/bench/bare", warm, 2)
        accepted += drive(f"{base}/hooks/{channel_id}/x", warm, 2)["requests"]
        for round_no in range(ROUNDS):
            payloads = workdir / f"round{round_no}.txt"
            write_payloads(payloads, 2_000_000_000 + round_no * PER_ROUND, PER_ROUND)
            for name, path in (("bare", "/bench/bare"), ("webhook", f"/hooks/{channel_id}/x")):
                result = drive(base + path, payloads, DURATION)
                if result["issued"] > result["available"]:
                    sys.exit(f"{name}: wrk ran out of unique deliveries; raise BENCH_PAYLOADS")
                if result["non2xx"] or result["timeouts"] or result["connect_errors"]:
                    sys.exit(f"{name}: errors during the run: {result}")
                results[name].append(result)
                if name == "webhook":
                    accepted += result["requests"]
                paired = f"  ratio {result['rps'] / results['bare'][-1]['rps']:.2f}" if name == "webhook" else ""
                print(
                    f"round {round_no + 1} {name:8}: {result['rps']:8.0f} req/s  "
                    f"p50 {result['p50_us'] / 1000:6.1f} ms  p99 {result['p99_us'] / 1000:6.1f} ms  "
                    f"({result['requests']} requests){paired}"
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
        _flush(broker)
    messages, replies = _count(url)
    # wrk may count a request whose answer arrived after its clock stopped; the database knows.
    print(f"stored {messages} tweets and {replies} reply rows for {accepted} accepted deliveries")
    if not (messages == replies and accepted <= messages <= accepted + CONNECTIONS * (ROUNDS + 1)):
        sys.exit("stored rows do not match the accepted deliveries")
    summary = {}
    for name, runs in results.items():
        rps = sum(r["rps"] for r in runs) / len(runs)
        p50 = sorted(r["p50_us"] for r in runs)[len(runs) // 2] / 1000
        p99 = max(r["p99_us"] for r in runs) / 1000
        summary[name] = rps
        print(
            f"{name:8}: {rps:8.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  (gunicorn sync x{WORKERS}, {CONNECTIONS} connections)"
        )
    ratios = sorted(w["rps"] / b["rps"] for b, w in zip(results["bare"], results["webhook"], strict=True))
    print(
        f"paired ratios: {' '.join(f'{r:.2f}' for r in ratios)}; mean rates give {summary['webhook'] / summary['bare']:.2f}"
    )
    print(f"RESULT webhook_vs_bare={statistics.median(ratios):.2f} target=>=0.35")


if __name__ == "__main__":
    main()
