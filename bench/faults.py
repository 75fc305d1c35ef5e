#!/usr/bin/env python
"""Fault injection: cutovers under SIGKILLed workers, broker restarts (Redis or
RabbitMQ) and terminated PostgreSQL backends, then an exact count of what happened.

Each trial builds a plan retiring an X channel with a few thousand open
conversations and a few dozen agents with confirmed moves, approves it to run
a second later, and while two real Celery workers (and one beat) execute it
and send its hand-off notices, then auto-replies to new tweets that keep
arriving once the channel is retired, randomly:
  - SIGKILLs a worker's whole process group (and starts a new one),
  - kills and restarts the broker: a private redis-server it owns, or with
    --broker rabbitmq a private RabbitMQ node (its own name, ports and data
    directory; SIGKILLed and started again, so it recovers its durable queues),
  - terminates the workers' PostgreSQL backends (pg_terminate_backend),
  - makes the fake X answer 500 after posting (replies in doubt);
faults stop once the run is complete and every tweet is stored, and the
replies still pending (in doubt, or held by a killed worker's lease) settle.
The fake X (a real HTTP server on 127.0.0.1) takes 10-80 ms per answer, so
kills land mid-send. Afterwards every run must be completed, with every
conversation moved exactly once with exactly one hand-off notice, every agent
in exactly one open assignment (the new team), every notification email
received exactly once by the local SMTP server, and exactly one reply tweet
posted to X for every hand-off and every stored inbound tweet.

    python bench/faults.py --trials 100                      # DATABASE_URL must be PostgreSQL
    python bench/faults.py --trials 100 --broker rabbitmq    # needs rabbitmq-server installed
"""

import argparse
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Redis:
    """A redis-server this harness owns, so restarting it disturbs nobody else."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def restart(self) -> None:
        self.stop()
        time.sleep(0.3)
        self.start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class RabbitMQ:
    """A RabbitMQ node this harness owns (name, ports, data and logs of its own), so killing it
    disturbs nobody else: not the shared server on 5672, where stop_app would cut every other
    user's connections. Run as the current user through the package's own start script."""

    SCRIPT = "/usr/lib/rabbitmq/bin/rabbitmq-server"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dist_port = free_port()
        self.workdir = workdir / "rabbitmq"
        (self.workdir / "mnesia").mkdir(parents=True, exist_ok=True)
        (self.workdir / "log").mkdir(exist_ok=True)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "RABBITMQ_NODENAME": f"dusk-faults-{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.workdir / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.workdir / "none"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.workdir / "plugins"),
        }
        self.proc = subprocess.Popen(
            [self.SCRIPT],
            env=env,
            stdout=open(self.workdir / "server.log", "ab"),  # noqa: SIM115 (the child owns it)
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"rabbitmq-server did not start: see {self.workdir / 'server.log'}")

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"


class Proc:
    def __init__(self, args: list[str], env: dict, log: Path) -> None:
        self.log = open(log, "ab")  # noqa: SIM115 (closed in kill())
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()


def _setup_django(url: str) -> None:
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DATABASE_POOL": "0",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DUSK_LOG_LEVEL": "WARNING",
            "DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS": "1",  # the fake platforms listen on 127.0.0.1
        }
    )
    import django

    django.setup()


TOKEN_ENV = "DUSK_CHANNEL_FAULT_X_TOKEN"


def build_trial(n_conversations: int, n_agents: int, smtp_port: int, fake_x, due_in: float = 3):
    from datetime import date, timedelta

    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.utils import timezone

    from channels_app.core.permissions import ensure_roles
    from channels_app.models import Agent, Assignment, Channel, Conversation, Team
    from channels_app.plans.services.plans import (
        AutoReplyInput,
        PhaseInput,
        RedirectInput,
        approve_plan,
        confirm_reassignments,
        create_plan,
        reschedule_phase,
        submit_plan,
    )
    from channels_app.workforce.services.moves import MoveRequest, propose_moves

    call_command("flush", interactive=False, verbosity=0)
    ensure_roles()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_PORT = smtp_port
    manager = User.objects.create_user("fault-manager", "manager@example.com", "x")
    approver = User.objects.create_user("fault-approver", "approver@example.com", "x")
    hr = User.objects.create_user("fault-hr", "hr@example.com", "x")
    manager.groups.set(Group.objects.filter(name="manager"))
    approver.groups.set(Group.objects.filter(name="approver"))
    hr.groups.set(Group.objects.filter(name="hr_coordinator"))
    channel = Channel.objects.create(
        kind="x",
        name="Faulty X",
        handle="@brand",
        platform_account_id=fake_x.account_id,
        api_base_url=fake_x.base_url,
        api_token_env=TOKEN_ENV,
        rate_limit_per_minute=100_000,
    )
    social = Team.objects.create(name="Social", capacity=n_agents)
    social.channels.set([channel])
    phone = Team.objects.create(name="Phone", capacity=n_agents)
    agents = Agent.objects.bulk_create(
        [Agent(employee_id=f"F{i:05d}", name=f"Agent {i}", email=f"agent{i}@example.com") for i in range(n_agents)]
    )
    Assignment.objects.bulk_create([Assignment(agent=a, team=social, starts_on=date(2024, 1, 1)) for a in agents])
    now = timezone.now()
    Conversation.objects.bulk_create(
        [
            Conversation(
                channel=channel,
                platform_thread_id=str(3_000_000_000 + i),  # the customer's tweet: hand-offs answer it
                customer_id=f"c{i}",
                reference=f"DSK-F{i:07d}",
                opened_at=now,
                last_message_at=now,
            )
            for i in range(n_conversations)
        ],
        batch_size=2000,
    )
    at = timezone.now() + timedelta(minutes=5)
    plan = create_plan(
        actor=manager,
        title="Faulty sunset",
        channel_ids=[channel.pk],
        phases=[PhaseInput("hard_close", at.date(), at.time(), "UTC")],
        redirects=[RedirectInput("phone", "Phone", "+1 800 555 0100")],
        auto_replies=[AutoReplyInput("hard_close", "en", "Hi {customer_name}, call {phone} ({reference}).")],
    )
    propose_moves(
        actor=hr,
        plan=plan,
        moves=[MoveRequest(agent.pk, phone, at.date()) for agent in agents],
        source="bench",
    )
    confirm_reassignments(actor=hr, plan=plan)
    submit_plan(actor=manager, plan=plan)
    # Bring it forward, due in a few seconds however long building took, then approve it (moving
    # an approved phase would send the plan back to its approvers).
    soon = timezone.now() + timedelta(seconds=due_in)
    reschedule_phase(
        actor=manager, phase=plan.phases.get(), local_date=soon.date(), local_time=soon.time(), time_zone="UTC"
    )
    approve_plan(actor=approver, plan=plan)
    return plan, [a.email for a in agents] + [manager.email, approver.email]


def inject_tweets(channel_id: int, first: int, count: int) -> int:
    """New tweets from new customers on the retired channel, stored as the webhook stores them;
    returns how many were stored (0 when PostgreSQL dropped the connection: sent again later)."""
    from django.db import DatabaseError, connection
    from django.utils import timezone

    from channels_app.models import Channel
    from channels_app.platforms.adapters.base import InboundMessage
    from channels_app.platforms.services.inbound import receive_messages

    now = timezone.now()
    messages = [
        InboundMessage(
            platform_message_id=str(5_000_000_000 + n),
            thread_id=str(5_000_000_000 + n),
            customer_id=f"u{n}",
            customer_handle=f"u{n}",
            customer_name=f"Customer {n}",
            text="@brand is anyone there?",
            lang="en",
            created_at=now,
            in_reply_to=None,
        )
        for n in range(first, first + count)
    ]
    try:
        result = receive_messages(channel=Channel.objects.get(pk=channel_id), messages=messages)
    except DatabaseError:
        connection.close()
        return 0
    return result.stored


def terminate_backends() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cur.fetchone()[0]


def outbox_settled() -> bool:
    from channels_app.models import OutboxMessage

    return not OutboxMessage.objects.filter(state__in=["pending", "sending"]).exists()


def check_trial(
    plan, expected_emails: list[str], received: list[str], n_conversations: int, n_agents: int, fake_x, n_tweets: int
):
    """Count what was done twice and what was never done, by kind."""
    from django.db.models import Count, Q

    from channels_app.models import Assignment, Conversation, CutoverRun, Message, Notification, OutboxMessage

    run = CutoverRun.objects.get(plan=plan)
    dup: Counter = Counter()
    lost: Counter = Counter()
    moved = Conversation.objects.filter(moved_by_run=run, state="redirected").count()
    lost["conversations"] += n_conversations - moved
    per_conv = Counter(OutboxMessage.objects.filter(kind="handoff").values_list("conversation_id", flat=True))
    dup["handoffs"] += sum(n - 1 for n in per_conv.values() if n > 1)
    lost["handoffs"] += n_conversations - len(per_conv)
    opens = Assignment.objects.values("agent_id").annotate(open=Count("id", filter=Q(ends_on__isnull=True)))
    dup["assignments"] += sum(row["open"] - 1 for row in opens if row["open"] > 1)
    lost["assignments"] += sum(1 for row in opens if row["open"] == 0)
    lost["moves"] += n_agents - Assignment.objects.filter(team__name="Phone", ends_on__isnull=True).count()
    notes = {n.message_id: n for n in Notification.objects.filter(run=run)}
    got = Counter(received)
    dup["emails"] += sum(n - 1 for n in got.values() if n > 1)
    missing = [n for mid, n in notes.items() if got[mid] == 0]
    lost["emails"] += len(missing)
    lost["emails_never_queued"] += len(set(expected_emails) - {n.recipient for n in notes.values()})
    if missing:
        print("  missing emails:", [(n.recipient, n.state, str(n.sent_at)) for n in missing])
    # Replies on X: one per hand-off and one per stored inbound tweet, each recorded with the
    # id X gave it.
    posted = Counter(t["in_reply_to"] for t in fake_x.tweets)
    targets = set(Conversation.objects.filter(moved_by_run=run).values_list("platform_thread_id", flat=True))
    inbound = set(Message.objects.filter(direction="in").values_list("platform_message_id", flat=True))
    dup["replies"] += sum(n - 1 for n in posted.values() if n > 1)
    lost["handoff_replies"] += sum(1 for t in targets if posted[t] == 0)
    lost["auto_replies"] += sum(1 for t in inbound if posted[t] == 0)
    lost["tweets_not_stored"] += n_tweets - len(inbound)
    ids = {t["id"] for t in fake_x.tweets}
    rows = OutboxMessage.objects.values_list("state", "platform_response_id", "last_error")
    unsent = [(state, error[:120]) for state, response, error in rows if state != "sent" or response not in ids]
    lost["outbox_rows_not_sent"] += len(unsent)
    if unsent:
        print("  outbox rows not sent:", unsent[:5])
    doubt = OutboxMessage.objects.filter(in_doubt_since__isnull=False)
    print(
        f"  replies: {len(fake_x.tweets)} on X; {doubt.count()} were in doubt, of which "
        f"{doubt.filter(last_error__startswith='sent by an earlier attempt').count()} were found on X, not sent again"
    )
    if fake_x.violations:
        print("  X saw bad requests:", fake_x.violations[:5])
        lost["bad_requests"] += len(fake_x.violations)
    counters_ok = run.conversations_moved == n_conversations and run.agents_reassigned == n_agents
    return run, +dup, +lost, counters_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=int(os.environ.get("FAULT_TRIALS", 3)))
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=30)
    parser.add_argument("--tweets", type=int, default=300, help="inbound tweets after the channel is retired")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULT_SEED", time.time_ns() % 10**6)))
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed per trial")
    parser.add_argument(
        "--broker", choices=["redis", "rabbitmq"], default=os.environ.get("FAULT_BROKER", "redis"), help="broker"
    )
    args = parser.parse_args(argv)
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dusk")
    if not base.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/faults.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    # A scratch database of its own beside DATABASE_URL's (dropped and created again): two
    # checkouts with different databases never share one.
    fault_db = base.rsplit("/", 1)[1].split("?")[0] + "_faults"
    url = base.rsplit("/", 1)[0] + "/" + fault_db
    import psycopg

    with psycopg.connect(base.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{fault_db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{fault_db}"')
    _setup_django(url)
    from django.core.management import call_command
    from django.db import connection

    from channels_app.models import Channel, CutoverRun, RunState
    from channels_app.plans.selectors import run_delivery_counts
    from channels_app.tests.support.fakeplatforms import FakeSMTP, FakeX

    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    print(
        f"seed {args.seed}; {args.trials} trial(s) of {args.conversations} conversations and {args.agents} agents "
        f"on {args.broker}"
    )
    total_dup = total_lost = 0
    failures = 0
    with tempfile.TemporaryDirectory() as tmp, FakeSMTP() as smtp, FakeX(bearer_token="fault-x-token") as fake_x:
        fake_x.latency = (0.01, 0.08)
        os.environ[TOKEN_ENV] = fake_x.bearer_token  # the preflight (submit, approve) tests the token here too
        workdir = Path(tmp)
        broker = RabbitMQ(workdir) if args.broker == "rabbitmq" else Redis(workdir)
        broker.start()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DATABASE_POOL": "0",
            "CELERY_BROKER_URL": broker.url,
            "DUSK_VAR_DIR": str(workdir / "var"),
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
            "CELERY_VISIBILITY_TIMEOUT": "30",
            TOKEN_ENV: fake_x.bearer_token,
            "DUSK_OUTBOX_SWEEP_INTERVAL": "0.5",
            "DUSK_OUTBOX_BATCH": "50",
            # A short lease, so replies a killed worker left "sending" are taken over (in doubt)
            # within the trial: 8 s >= horizon 1 + 3 x timeout 1.5 + margin 1 (+1).
            "DUSK_OUTBOX_STUCK_AFTER": "8",
            "DUSK_OUTBOX_HTTP_TIMEOUT": "1.5",
            "DUSK_OUTBOX_LOOKUP_MARGIN": "1",
            "DUSK_OUTBOX_RATE_HORIZON": "1",
            "DUSK_OUTBOX_BACKOFF_BASE": "0.5",
            "DUSK_OUTBOX_BACKOFF_MAX": "3",
            "DUSK_OUTBOX_MAX_ATTEMPTS": "1000",
            "PYTHONUNBUFFERED": "1",
        }
        celery = [sys.executable, "-m", "celery", "-A", "portal"]
        n_workers = 0

        def start_worker() -> Proc:
            nonlocal n_workers
            n_workers += 1
            return Proc(
                [
                    *celery,
                    "worker",
                    "--concurrency=1",
                    "-n",
                    f"fault{n_workers}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel=INFO",
                ],
                env,
                workdir / "workers.log",
            )

        beat = Proc(
            [*celery, "beat", "-s", str(workdir / "beat-schedule"), "--loglevel=INFO"], env, workdir / "beat.log"
        )
        workers = [start_worker(), start_worker()]
        try:
            for trial in range(1, args.trials + 1):
                smtp.messages.clear()
                fake_x.tweets.clear()
                fake_x.received.clear()
                fake_x.violations.clear()
                plan, expected = build_trial(args.conversations, args.agents, smtp.port, fake_x)
                channel_id = plan.plan_channels.get().channel_id
                connection.close()
                faults: Counter = Counter()
                started = time.monotonic()
                tweets = 0
                quiet_since = 0.0
                while True:
                    run = CutoverRun.objects.filter(plan=plan).first()
                    if run and run.state == RunState.FAILED:
                        break
                    if time.monotonic() - started > args.timeout:
                        break
                    if Channel.objects.filter(pk=channel_id, state="retired").exists() and tweets < args.tweets:
                        tweets += inject_tweets(channel_id, trial * 1_000_000 + tweets, min(25, args.tweets - tweets))
                    if run and run.state == RunState.COMPLETED and tweets >= args.tweets:
                        # Faults stop once the run is complete and every tweet is stored; what the
                        # last ones left (replies in doubt, leases of killed workers) must settle.
                        if outbox_settled():
                            break
                        quiet_since = quiet_since or time.monotonic()
                        time.sleep(0.3)
                        continue
                    time.sleep(rng.uniform(0.3, 1.2))
                    action = rng.choice(["kill", "kill", "broker", "postgres", "platform", "none"])
                    if run and run.state == RunState.DELIVERING:
                        # The run's database steps are done and its notices are going out:
                        # faults land in the Delivering phase too.
                        faults["during_delivering"] += 1
                    if action == "kill":
                        victim = workers.pop(rng.randrange(len(workers)))
                        victim.kill()
                        workers.append(start_worker())
                    elif action == "broker":
                        broker.restart()
                    elif action == "postgres":
                        terminate_backends()
                    elif action == "platform":
                        fake_x.fail_next(500, after_effect=True, path="/2/tweets", times=rng.randint(1, 5))
                    faults[action] += 1
                connection.close()
                run = CutoverRun.objects.filter(plan=plan).first()
                elapsed = time.monotonic() - started
                if run is None or run.state != RunState.COMPLETED or tweets < args.tweets or not outbox_settled():
                    failures += 1
                    print(
                        f"trial {trial}: NOT COMPLETED after {elapsed:.0f}s (state "
                        f"{run.state if run else 'no run'}; errors {run.errors if run else ''}; "
                        f"{tweets}/{args.tweets} tweets stored; outbox settled: {outbox_settled()})"
                    )
                    continue
                # Give the last end-of-data markers a moment to land.
                time.sleep(0.5)
                received = [m.message["Message-ID"] for m in smtp.messages]
                run, dup, lost, counters_ok = check_trial(
                    plan, expected, received, args.conversations, args.agents, fake_x, tweets
                )
                # "Completed" must mean delivered: every hand-off notice and email of the run sent.
                delivery = run_delivery_counts(run.pk)
                delivered_ok = (
                    run.delivered_at is not None
                    and delivery.failed == 0
                    and delivery.unsettled == 0
                    and delivery.handoffs_sent == run.handoffs_queued
                )
                if not delivered_ok:
                    failures += 1
                    print(f"trial {trial}: completed but not delivered: {delivery}")
                settle = time.monotonic() - quiet_since if quiet_since else 0.0
                total_dup += sum(dup.values())
                total_lost += sum(lost.values())
                if not counters_ok:
                    failures += 1
                print(
                    f"trial {trial}: completed in {elapsed:.1f}s (replies settled {settle:.1f}s after the last "
                    f"fault) after {run.attempts} run attempt(s); "
                    f"{len(fake_x.tweets)} replies on X; faults "
                    f"{dict(faults)}; duplicates={sum(dup.values())} {dict(dup)} lost={sum(lost.values())} {dict(lost)} "
                    f"counters_ok={counters_ok} delivered_ok={delivered_ok}"
                )
        finally:
            for proc in [*workers, beat]:
                proc.kill()
            broker.stop()
    print(
        f"RESULT fault_trials={args.trials} duplicates={total_dup} lost={total_lost} "
        f"wrong_final_state={failures} broker={args.broker} target=0"
    )
    return 0 if total_dup == 0 and total_lost == 0 and failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
