#!/usr/bin/env python
"""Cutover database work vs hand-written SQL on the same rows, on PostgreSQL.

Builds 100,000 open conversations and 10,000 agents (with confirmed moves)
in a scratch database, then, each in a fresh child process:
  1. hand-written SQL: the same changes as the cutover, one statement each;
  2. the real cutover (services.run_cutover: freeze, channels, chunked
     conversation moves with hand-off notices, set-based reassignments,
     notification rows and batched sends to a no-op mail backend, done).
The data is reset between the two. Prints both times, the ratio, and the
cutover process's peak memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dusk python bench/cutover.py
    # ten times the data (about 6 minutes on 2 cores): target ratio <= 2, peak RSS < 300 MB
    python bench/cutover.py --conversations 1000000 --agents 100000
"""

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
N_CONVERSATIONS = int(os.environ.get("BENCH_CONVERSATIONS", 100_000))
N_AGENTS = int(os.environ.get("BENCH_AGENTS", 10_000))
# --conversations N / --agents N on the command line (children get them through the environment).
for _flag, _var in (("--conversations", "BENCH_CONVERSATIONS"), ("--agents", "BENCH_AGENTS")):
    if _flag in sys.argv:
        os.environ[_var] = sys.argv[sys.argv.index(_flag) + 1]
N_CONVERSATIONS = int(os.environ.get("BENCH_CONVERSATIONS", N_CONVERSATIONS))
N_AGENTS = int(os.environ.get("BENCH_AGENTS", N_AGENTS))
BENCH_DB = "dusk_bench_cutover"


def _bench_url() -> str:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dusk")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/cutover.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    # A scratch database beside DATABASE_URL's, so two checkouts never share one.
    return url.rsplit("/", 1)[0] + "/" + url.rsplit("/", 1)[1].split("?")[0] + "_" + BENCH_DB.removeprefix("dusk_")


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DATABASE_POOL"] = "0"
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.dummy.EmailBackend"
    os.environ.setdefault("DUSK_LOG_LEVEL", "WARNING")
    import django

    django.setup()


def create_database(url: str) -> None:
    import psycopg

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        name = url.rsplit("/", 1)[1]
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def build() -> dict:
    from datetime import date, timedelta

    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from channels_app.models import Agent, Assignment, Channel, Conversation, Reassignment, Team
    from channels_app.plans.services.plans import (
        AutoReplyInput,
        PhaseInput,
        RedirectInput,
        approve_plan,
        create_plan,
        submit_plan,
    )
    from channels_app.tests.support.sandbox import bench_channel

    call_command("migrate", verbosity=0)
    manager = User.objects.create_user("bench-manager", "m@example.com", "x")
    approver = User.objects.create_user("bench-approver", "a@example.com", "x")
    manager.groups.set(Group.objects.filter(name="manager"))
    approver.groups.set(Group.objects.filter(name="approver"))
    channels = [
        Channel.objects.create(kind=k, name=f"Bench {k}", **bench_channel(k)) for k in ("x", "youtube", "discourse")
    ]
    social = [Team.objects.create(name=f"Social {i}", capacity=120) for i in range(100)]
    for team in social:
        team.channels.set(channels)
    dest = [Team.objects.create(name=f"Phone {i}", capacity=N_AGENTS // 50 + 50) for i in range(50)]
    agents = Agent.objects.bulk_create(
        [Agent(employee_id=f"B{i:06d}", name=f"Agent {i}", email=f"agent{i}@example.com") for i in range(N_AGENTS)],
        batch_size=5000,
    )
    Assignment.objects.bulk_create(
        [Assignment(agent=a, team=social[i % 100], starts_on=date(2024, 1, 1)) for i, a in enumerate(agents)],
        batch_size=5000,
    )
    now = timezone.now()
    with connection.cursor() as cur:
        # generate_series keeps building 100k rows quick; this is setup, not the measured work.
        cur.execute(
            f"""
            INSERT INTO channels_app_conversation
              (channel_id, platform_thread_id, customer_id, customer_handle, customer_name, locale, reference,
               state, opened_at, last_message_at)
            SELECT (ARRAY[{",".join(str(c.pk) for c in channels)}])[1 + g %% 3], 't' || g, 'c' || g, '@c' || g,
                   'Customer', 'en', 'DSK-B' || lpad(g::text, 7, '0'), 'open', %s, %s
            FROM generate_series(1, %s) g
            """,
            [now, now, N_CONVERSATIONS],
        )
    at = now + timedelta(minutes=10)
    plan = create_plan(
        actor=manager,
        title="Bench sunset",
        channel_ids=[c.pk for c in channels],
        phases=[PhaseInput("hard_close", at.date(), at.time(), "UTC")],
        redirects=[RedirectInput("phone", "Phone", "+1 800 555 0100")],
        auto_replies=[AutoReplyInput("hard_close", "en", "Hi {customer_name}, call {phone} ({reference}).")],
    )
    Reassignment.objects.bulk_create(
        [
            Reassignment(
                plan=plan,
                agent=a,
                from_team=social[i % 100],
                to_team=dest[i % 50],
                effective_date=at.date(),
                state="confirmed",
            )
            for i, a in enumerate(agents)
        ],
        batch_size=5000,
    )
    submit_plan(actor=manager, plan=plan)
    approve_plan(actor=approver, plan=plan)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    return {"plan": plan.pk, "at": at.isoformat(), "conversations": Conversation.objects.count()}


RESET_SQL = [
    "DELETE FROM channels_app_outboxmessage",
    "DELETE FROM channels_app_notification",
    "DELETE FROM channels_app_plannotice WHERE run_id IS NOT NULL",
    "UPDATE channels_app_conversation SET state='open', redirected_to_id=NULL, moved_by_run_id=NULL",
    "DELETE FROM channels_app_assignment WHERE created_by_run_id IS NOT NULL OR starts_on > '2024-01-01'",
    "UPDATE channels_app_assignment SET ends_on=NULL, ended_by_run_id=NULL",
    "UPDATE channels_app_reassignment SET state='confirmed', applied_by_run_id=NULL",
    "UPDATE channels_app_channel SET state='active'",
    "DELETE FROM channels_app_cutoverrun",
    "UPDATE channels_app_phase SET state='scheduled'",
    "UPDATE channels_app_sunsetplan SET state='scheduled'",
    "UPDATE channels_app_planchannel SET is_open=true",
]


def reset() -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cur:
        for sql in RESET_SQL:
            cur.execute(sql)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")


def run_raw(plan_id: int) -> dict:
    """The same changes as the cutover, written by hand, one statement each."""
    from django.db import connection, transaction
    from django.utils import timezone

    from channels_app.models import CutoverRun, Phase

    phase = Phase.objects.get(plan_id=plan_id)
    now = timezone.now()
    run = CutoverRun.objects.create(phase=phase, plan_id=plan_id, queued_at=now, heartbeat_at=now)
    day = phase.local_date
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        chans = "SELECT channel_id FROM channels_app_planchannel WHERE plan_id = %s"
        cur.execute(f"UPDATE channels_app_channel SET state='retired' WHERE id IN ({chans})", [plan_id])
        cur.execute(
            f"""UPDATE channels_app_conversation SET state='redirected', moved_by_run_id=%s,
                redirected_to_id=(SELECT id FROM channels_app_redirecttarget WHERE plan_id=%s ORDER BY position LIMIT 1)
                WHERE state='open' AND channel_id IN ({chans})""",
            [run.pk, plan_id, plan_id],
        )
        cur.execute(
            """INSERT INTO channels_app_outboxmessage (channel_id, conversation_id, kind, phase_kind, dedupe_key,
                 created_by_run_id, state, attempts, rendered_text, platform_response_id, last_error, created_at)
               SELECT channel_id, MIN(id), 'handoff', 'hard_close', 'handoff:' || channel_id || ':' || md5(customer_id),
                      %s, 'pending', 0, '', '', '', %s
               FROM channels_app_conversation WHERE moved_by_run_id = %s
               GROUP BY channel_id, customer_id""",
            [run.pk, now, run.pk],
        )
        cur.execute(
            """UPDATE channels_app_assignment a SET ends_on=%s, ended_by_run_id=%s FROM channels_app_reassignment r
               WHERE r.plan_id=%s AND r.state='confirmed' AND a.agent_id=r.agent_id AND a.team_id=r.from_team_id
                 AND a.ends_on IS NULL""",
            [day, run.pk, plan_id],
        )
        cur.execute(
            """INSERT INTO channels_app_assignment (agent_id, team_id, role, starts_on, created_by_run_id)
               SELECT agent_id, to_team_id, role, %s, %s FROM channels_app_reassignment
               WHERE plan_id=%s AND state='confirmed'""",
            [day, run.pk, plan_id],
        )
        cur.execute(
            "UPDATE channels_app_reassignment SET state='done' WHERE plan_id=%s AND state='confirmed'", [plan_id]
        )
        cur.execute(
            """INSERT INTO channels_app_notification (run_id, kind, recipient, agent_id, subject, body, state, sent_at)
               SELECT %s, 'reassignment', ag.email, ag.id, 'Your new role', '', 'sent', %s
               FROM channels_app_reassignment r JOIN channels_app_agent ag ON ag.id = r.agent_id
               WHERE r.plan_id=%s AND r.state='done'""",
            [run.pk, now, plan_id],
        )
    return {"seconds": time.perf_counter() - started}


def run_cutover(plan_id: int, at: str) -> dict:
    from datetime import datetime, timedelta

    from channels_app.cutover.services import engine
    from channels_app.models import Conversation, CutoverRun

    started = time.perf_counter()
    run_ids = engine.claim_due_phases(now=datetime.fromisoformat(at) + timedelta(seconds=1))
    assert len(run_ids) == 1, run_ids
    result = engine.run_cutover(run_id=run_ids[0], worker_id="bench")
    seconds = time.perf_counter() - started
    run = CutoverRun.objects.get(pk=run_ids[0])
    # The database steps end here; the hand-off notices and emails they queued are the outbox's
    # work (the run is "delivering" until they are sent), which this bench does not time.
    assert result in ("completed", "delivering"), (result, run.errors)
    assert run.conversations_moved == Conversation.objects.filter(state="redirected").count()
    steps = {
        name: round(
            (datetime.fromisoformat(info["finished_at"]) - datetime.fromisoformat(info["started_at"])).total_seconds(),
            3,
        )
        for name, info in run.steps.items()
        if "finished_at" in info  # the delivering step ends when the outbox is done
    }
    return {
        "seconds": seconds,
        "moved": run.conversations_moved,
        "reassigned": run.agents_reassigned,
        "notified": run.notifications_sent,
        "steps": steps,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child(mode: str, url: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, url, *args], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"{mode} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, url, *rest = sys.argv[2:]
        _setup_django(url)
        result = {"build": build, "reset": lambda: reset() or {}}.get(mode)
        if result:
            print(json.dumps(result()))
        elif mode == "raw":
            print(json.dumps(run_raw(int(rest[0]))))
        else:
            print(json.dumps(run_cutover(int(rest[0]), rest[1])))
        return
    # The platforms the channels' connection tests reach (approval, the freeze step), for the
    # children this process starts.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from channels_app.tests.support.sandbox import bench_sandbox

    bench_sandbox()
    url = _bench_url()
    create_database(url)
    t0 = time.perf_counter()
    info = child("build", url)
    print(
        f"built {info['conversations']:,} open conversations and {N_AGENTS:,} agents in {time.perf_counter() - t0:.1f}s"
    )
    raw = child("raw", url, str(info["plan"]))
    child("reset", url)
    cut = child("cutover", url, str(info["plan"]), info["at"])
    ratio = cut["seconds"] / raw["seconds"]
    print(f"hand-written SQL : {raw['seconds']:.2f}s")
    print(
        f"cutover          : {cut['seconds']:.2f}s  moved={cut['moved']:,} reassigned={cut['reassigned']:,} "
        f"notified={cut['notified']:,}"
    )
    print(f"cutover steps    : {cut['steps']}")
    print(f"worker peak RSS  : {cut['max_rss_mb']:.0f} MB (target < 300 MB)")
    print(f"ratio            : {ratio:.2f}")
    if N_CONVERSATIONS >= 1_000_000:
        print(f"RESULT cutover_1m_vs_raw_sql={ratio:.2f} target=<=2")
        print(f"RESULT cutover_1m_worker_rss_mb={cut['max_rss_mb']:.0f} target=<300")
    else:
        print(f"RESULT cutover_vs_raw_sql={ratio:.2f} target=<=3")


if __name__ == "__main__":
    main()
