#!/usr/bin/env python
"""Many nodes on one machine: a cutover and webhook traffic while nodes die.

Each trial starts, on PostgreSQL and a private RabbitMQ node (its own name, ports and data):
  - two web nodes: two gunicorn instances (production settings, DUSK_NODES=2, the cache shared
    in PostgreSQL) on different ports, behind a small round-robin proxy (below, in Python);
  - three workers on two queues: `-Q cutover,replies`, `-Q cutover`, `-Q replies`;
  - two beats, deliberately (only one is supported; the database's conditional claim must make
    the second harmless).
It builds an X channel already retired (it answers every tweet with an auto-reply) and a plan
retiring a second X channel with open conversations and agents with confirmed moves; signed
webhook deliveries (one new tweet each, retried until a 2xx like X does) go through the proxy to
both web nodes while the cutover runs, and once the run is under way it SIGKILLs one web node, the
worker running the cutover and one beat. Afterwards:
  - duplicates: a tweet stored twice, a reply posted twice, a conversation handed off twice, an
    email received twice, an agent with two open assignments;
  - lost: an accepted (2xx) delivery not stored, a stored tweet never answered, a conversation
    not moved, an email never received;
  - double_fired: a phase claimed more than once, or with more than one run.

    DATABASE_URL=postgres://... python bench/cluster.py --trials 3     # make bench-cluster
"""

import argparse
import contextlib
import http.client
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# bench/ is this script's folder, so its sibling imports as `faults` (which puts the checkout on
# the path for Django).
from faults import (
    ROOT,
    TOKEN_ENV,
    Proc,
    RabbitMQ,
    _setup_django,
    build_trial,
    check_trial,
    free_port,
    outbox_settled,
)

SECRET_ENV = "DUSK_CHANNEL_CLUSTER_WEBHOOK_SECRET"
SECRET = "cluster-webhook-secret"
WORKER_QUEUES = ["cutover,replies", "cutover", "replies"]


class RoundRobinProxy:
    """An HTTP proxy on 127.0.0.1 sending each request to the next backend in turn; a backend that
    refuses the connection (a dead node: nothing was sent) is skipped, any other failure is a 502
    (the request may have been handled: the platform retries, and storing is idempotent)."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self._next = itertools.count()
        self.served: Counter = Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "host")}
                start = next(proxy._next)
                for i in range(len(proxy.backends)):
                    port = proxy.backends[(start + i) % len(proxy.backends)]
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    try:
                        conn.connect()
                    except ConnectionRefusedError:
                        continue
                    try:
                        conn.request(self.command, self.path, body=body, headers={**headers, "Host": "127.0.0.1"})
                        answer = conn.getresponse()
                        payload = answer.read()
                    except (OSError, http.client.HTTPException):
                        break
                    finally:
                        conn.close()
                    proxy.served[port] += 1
                    self.send_response(answer.status)
                    for name in ("Content-Type",):
                        if answer.getheader(name):
                            self.send_header(name, answer.getheader(name))
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _forward

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass  # a client hanging up between requests is not news

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Traffic:
    """Signed X deliveries, one new tweet from a new customer each, from a few client threads
    through the proxy; each is sent again until it gets a 2xx, as X retries."""

    def __init__(self, port: int, channel_id: int, account_id: str, first_id: int, threads: int = 4) -> None:
        self.port = port
        self.path = f"/hooks/{channel_id}/x"
        self.account_id = account_id
        self.ids = itertools.count(first_id)
        self.accepted: set[str] = set()
        self.answers: Counter = Counter()
        self.stop_sending = threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def _delivery(self, n: int) -> bytes:
        from channels_app.platforms.adapters.base import sha256_b64_signature

        tweet = {
            "created_at": time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime()),
            "id": n,
            "id_str": str(n),
            "text": "@brand is anyone there?",
            "in_reply_to_status_id_str": None,
            "user": {"id": n, "id_str": str(n), "name": f"Customer {n}", "screen_name": f"c{n}"},
            "lang": "en",
        }
        body = json.dumps({"for_user_id": self.account_id, "tweet_create_events": [tweet]}).encode()
        return body, sha256_b64_signature(SECRET, body)

    def _loop(self) -> None:
        while not self.stop_sending.is_set():
            with self._lock:
                n = next(self.ids)
            body, signature = self._delivery(n)
            for _attempt in range(50):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                try:
                    conn.request(
                        "POST",
                        self.path,
                        body=body,
                        headers={"Content-Type": "application/json", "x-twitter-webhooks-signature": signature},
                    )
                    status = conn.getresponse().status
                except (OSError, http.client.HTTPException):
                    status = 0
                finally:
                    conn.close()
                with self._lock:
                    self.answers[status] += 1
                if 200 <= status < 300:
                    with self._lock:
                        self.accepted.add(str(n))
                    break
                time.sleep(0.2)
            time.sleep(0.02)

    def stop(self) -> None:
        self.stop_sending.set()
        for thread in self.threads:
            thread.join(timeout=60)


def retire_channel(fake_x) -> int:
    """An X channel retired by a plan run now (inline): every stored tweet gets an auto-reply."""
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.utils import timezone

    from channels_app.cutover.services.engine import claim_due_phases, run_cutover
    from channels_app.models import Channel
    from channels_app.plans.services.plans import (
        AutoReplyInput,
        PhaseInput,
        RedirectInput,
        approve_plan,
        create_plan,
        submit_plan,
    )

    channel = Channel.objects.create(
        kind="x",
        name="Retired X",
        handle="@brand-old",
        platform_account_id=fake_x.account_id,
        api_base_url=fake_x.base_url,
        api_token_env=TOKEN_ENV,
        webhook_secret_env=SECRET_ENV,
        rate_limit_per_minute=100_000,
    )
    at = timezone.now() + timedelta(minutes=30)
    plan = create_plan(
        actor=User.objects.get(username="fault-manager"),
        title="Retired earlier",
        channel_ids=[channel.pk],
        phases=[PhaseInput("hard_close", at.date(), at.time(), "UTC")],
        redirects=[RedirectInput("phone", "Phone", "+1 800 555 0100")],
        auto_replies=[AutoReplyInput("hard_close", "en", "Hi {customer_name}, call {phone} ({reference}).")],
    )
    submit_plan(actor=User.objects.get(username="fault-manager"), plan=plan)
    approve_plan(actor=User.objects.get(username="fault-approver"), plan=plan)
    (run_id,) = claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))
    assert run_cutover(run_id=run_id, worker_id="bench") == "completed"
    return channel.pk


def double_fired() -> int:
    """Phases claimed more than once, runs completed more than once (a phase has at most one run:
    a one-to-one in the schema)."""
    from channels_app.models import AuditEvent

    claims = Counter(
        event["phase"] for event in AuditEvent.objects.filter(action="phase.claimed").values_list("after", flat=True)
    )
    completions = Counter(AuditEvent.objects.filter(action="run.completed").values_list("object_id", flat=True))
    return sum(n - 1 for n in [*claims.values(), *completions.values()] if n > 1)


def wait_port(port: int, proc: Proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/login/")
            if conn.getresponse().status < 500:
                return
        if proc.proc.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"web node on {port} did not come up")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=30)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("CLUSTER_SEED", time.time_ns() % 10**6)))
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed per trial")
    args = parser.parse_args(argv)
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dusk")
    if not base.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/cluster.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    cluster_db = base.rsplit("/", 1)[1].split("?")[0] + "_cluster"
    url = base.rsplit("/", 1)[0] + "/" + cluster_db
    import psycopg

    with psycopg.connect(base.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{cluster_db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{cluster_db}"')
    _setup_django(url)
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from channels_app.models import CutoverRun, Message, RunState
    from channels_app.plans.services.plans import approve_plan, reschedule_phase
    from channels_app.tests.support.fakeplatforms import FakeSMTP, FakeX

    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    print(f"seed {args.seed}; {args.trials} trial(s): 2 web nodes, 3 workers on 2 queues, 2 beats, RabbitMQ")
    totals = Counter()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp, FakeSMTP() as smtp, FakeX(bearer_token="fault-x-token") as fake_x:
        fake_x.latency = (0.005, 0.03)
        workdir = Path(tmp)
        broker = RabbitMQ(workdir)
        broker.start()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DATABASE_POOL": "0",
            "CELERY_BROKER_URL": broker.url,
            "DUSK_VAR_DIR": str(workdir / "var"),
            # Production settings, as a deploy runs them: several nodes share their cache.
            "DUSK_PRODUCTION": "1",
            "DJANGO_SECRET_KEY": "cluster-bench-" + "k" * 50,
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS": "1",  # the fake X listens on 127.0.0.1
            "DUSK_NODES": "2",
            "DUSK_STATIC_ROOT": str(workdir / "static"),
            "DUSK_CACHE_URL": "dbcache://dusk_cache",
            "DUSK_SWEEP_INTERVAL": "0.5",
            "DUSK_REAP_INTERVAL": "1",
            "DUSK_RUN_STUCK_AFTER": "3",
            "DUSK_CHUNK_SIZE": "100",
            "DUSK_CHUNK_PAUSE": "0.1",
            "DUSK_EMAIL_BATCH": "10",
            "DUSK_EMAIL_PARALLEL": "4",
            "DUSK_LOG_LEVEL": "INFO",
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp.port),
            TOKEN_ENV: fake_x.bearer_token,
            SECRET_ENV: SECRET,
            "DUSK_OUTBOX_SWEEP_INTERVAL": "0.5",
            "DUSK_OUTBOX_STUCK_AFTER": "8",
            "DUSK_OUTBOX_HTTP_TIMEOUT": "1.5",
            "DUSK_OUTBOX_LOOKUP_MARGIN": "1",
            "DUSK_OUTBOX_RATE_HORIZON": "1",
            "DUSK_OUTBOX_BACKOFF_BASE": "0.5",
            "DUSK_OUTBOX_BACKOFF_MAX": "3",
            "DUSK_OUTBOX_MAX_ATTEMPTS": "1000",
            "DUSK_WEBHOOK_CHANNEL_TTL": "1",
            "PYTHONUNBUFFERED": "1",
        }
        os.environ[SECRET_ENV] = SECRET
        os.environ[TOKEN_ENV] = fake_x.bearer_token  # the preflight (submit, approve) tests the token here too
        # The release step of a deploy: production pages name their static files by the manifest.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        celery = [sys.executable, "-m", "celery", "-A", "portal"]
        procs: list[Proc] = []
        try:
            for trial in range(1, args.trials + 1):
                smtp.messages.clear()
                fake_x.tweets.clear()
                fake_x.received.clear()
                fake_x.violations.clear()
                plan, expected = build_trial(args.conversations, args.agents, smtp.port, fake_x, due_in=3600)
                retired_id = retire_channel(fake_x)
                # The release step, with the nodes' settings (their cache is in PostgreSQL).
                subprocess.run([sys.executable, "manage.py", "createcachetable"], cwd=ROOT, env=env, check=True)
                connection.close()
                ports = [free_port(), free_port()]
                webs = [
                    Proc(
                        [
                            *(sys.executable, "-m", "gunicorn", "portal.wsgi:application"),
                            *("--workers", "2", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"),
                        ],
                        env,
                        workdir / f"web{i}.log",
                    )
                    for i, port in enumerate(ports, 1)
                ]
                workers = [
                    Proc(
                        [*celery, "worker", "-Q", queues, "--concurrency=1", "-n", f"cw{i}@%h", "--without-gossip"]
                        + ["--without-mingle", "--loglevel=INFO"],
                        env,
                        workdir / f"worker{i}.log",
                    )
                    for i, queues in enumerate(WORKER_QUEUES, 1)
                ]
                beats = [
                    Proc(
                        [*celery, "beat", "-s", str(workdir / f"beat{i}-schedule-{trial}"), "--loglevel=INFO"],
                        env,
                        workdir / f"beat{i}.log",
                    )
                    for i in (1, 2)
                ]
                procs = [*webs, *workers, *beats]
                for port, web in zip(ports, webs, strict=True):
                    wait_port(port, web)
                proxy = RoundRobinProxy(ports)
                traffic = Traffic(proxy.port, retired_id, fake_x.account_id, first_id=trial * 10_000_000)
                # The plan comes due a few seconds into the traffic.
                time.sleep(2)
                soon = timezone.now() + timedelta(seconds=3)
                reschedule_phase(
                    actor=User.objects.get(username="fault-manager"),
                    phase=plan.phases.get(),
                    local_date=soon.date(),
                    local_time=soon.time(),
                    time_zone="UTC",
                )
                # Moving an approved phase sends the plan back to its approvers.
                approve_plan(actor=User.objects.get(username="fault-approver"), plan=plan)
                started = time.monotonic()
                killed: list[str] = []
                while time.monotonic() - started < args.timeout:
                    run = CutoverRun.objects.filter(plan=plan).first()
                    if not killed and run and run.state == RunState.RUNNING and run.conversations_moved >= 300:
                        # One node of each kind: a web node, the worker running the cutover, a beat.
                        web = rng.randrange(2)
                        webs[web].kill()
                        holder = run.worker_id.split("@")[0]
                        victim = next((w for i, w in enumerate(workers, 1) if holder == f"cw{i}"), workers[0])
                        victim.kill()
                        beats[rng.randrange(2)].kill()
                        killed = [f"web{web + 1}", run.worker_id.split(":")[0], "a beat"]
                    if run and run.state in (RunState.COMPLETED, RunState.FAILED) and killed:
                        break
                    time.sleep(0.2)
                traffic.stop()
                deadline = time.monotonic() + 60
                while not outbox_settled() and time.monotonic() < deadline:
                    time.sleep(0.3)
                time.sleep(0.5)
                connection.close()
                run = CutoverRun.objects.filter(plan=plan).first()
                elapsed = time.monotonic() - started
                stored = set(Message.objects.filter(direction="in").values_list("platform_message_id", flat=True))
                if run is None or run.state != RunState.COMPLETED or not outbox_settled() or not killed:
                    failures += 1
                    print(
                        f"trial {trial}: NOT COMPLETED after {elapsed:.0f}s (run "
                        f"{run.state if run else 'none'}; killed {killed}; outbox settled {outbox_settled()})"
                    )
                else:
                    received = [m.message["Message-ID"] for m in smtp.messages]
                    run, dup, lost, counters_ok = check_trial(
                        plan, expected, received, args.conversations, args.agents, fake_x, len(stored)
                    )
                    lost["accepted_not_stored"] += len(traffic.accepted - stored)
                    fired = double_fired()
                    totals["duplicates"] += sum(dup.values())
                    totals["lost"] += sum(lost.values())
                    totals["double_fired"] += fired
                    failures += 0 if counters_ok else 1
                    print(
                        f"trial {trial}: run completed in {elapsed:.1f}s after {run.attempts} attempt(s) by "
                        f"{run.worker_id}; killed {killed}; {len(traffic.accepted)} deliveries accepted "
                        f"(answers {dict(traffic.answers)}; per node {dict(proxy.served)}), {len(stored)} stored; "
                        f"{len(fake_x.tweets)} replies on X; duplicates={sum(dup.values())} {dict(dup)} "
                        f"lost={sum(lost.values())} {dict(lost)} double_fired={fired}"
                    )
                proxy.close()
                for proc in procs:
                    proc.kill()
                procs = []
        finally:
            for proc in procs:
                proc.kill()
            broker.stop()
    print(
        f"RESULT cluster_trials={args.trials} duplicates={totals['duplicates']} lost={totals['lost']} "
        f"double_fired={totals['double_fired']}"
    )
    ok = failures == 0 and not any(totals.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
