#!/usr/bin/env python
"""Portal pages on a big database vs an empty one, on PostgreSQL.

Two scratch databases are built in the same run:
  * empty: one channel, one plan waiting for approval, one run (so every page exists);
  * full: 10,000 agents in 200 teams, 500 channels, 2,000 plans (with phases,
    redirects, replies, reassignments), 50,000 open conversations, 20,000 inbound
    messages in the last day, 20,000 audit events and 500 cutover runs.
Each is served by its own child process through Django's test client (the
whole middleware, view and template stack). After a warm-up, requests alternate
between the two so both see the same machine load; each page's 95th-percentile
time is printed, and the result is the ratio full/empty of the 95th percentile
over all the main pages' requests (the worst single page is printed beside it).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dusk python bench/pages.py
    # ten times the data: RESULT pages_p95_ratio_10x, target <= 1.5, no page above 2
    python bench/pages.py --agents 100000 --conversations 500000 --audit 200000
    # while working on one page: only some pages, on the databases the last run seeded
    python bench/pages.py --agents 100000 --conversations 500000 --audit 200000 --keep --pages plan,review
"""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", 100))
# --agents / --conversations / --audit on the command line (children get them through the
# environment); teams, inbound messages and reassignments grow with them.
for _flag in ("agents", "conversations", "audit"):
    if f"--{_flag}" in sys.argv:
        os.environ[f"BENCH_PAGES_{_flag.upper()}"] = sys.argv[sys.argv.index(f"--{_flag}") + 1]
# --keep: reuse the scratch databases a previous run seeded (same sizes; migrations are applied),
# instead of seeding them again. --pages a,b: request only those pages.
if "--keep" in sys.argv:
    os.environ["BENCH_PAGES_KEEP"] = "1"
if "--pages" in sys.argv:
    os.environ["BENCH_PAGES_ONLY"] = sys.argv[sys.argv.index("--pages") + 1]
KEEP = os.environ.get("BENCH_PAGES_KEEP") == "1"
N_AGENTS = int(os.environ.get("BENCH_PAGES_AGENTS", 10_000))
N_CONVERSATIONS = int(os.environ.get("BENCH_PAGES_CONVERSATIONS", 50_000))
N_AUDIT = int(os.environ.get("BENCH_PAGES_AUDIT", 20_000))
TEN_X = N_AGENTS >= 100_000
WARMUP = 5
ALL_PAGES = ["dashboard", "channels", "channel", "plan", "approvals", "review", "run", "audit"]
PAGES = [p for p in os.environ.get("BENCH_PAGES_ONLY", ",".join(ALL_PAGES)).split(",") if p]
if set(PAGES) - set(ALL_PAGES):
    sys.exit(f"--pages: choose among {', '.join(ALL_PAGES)}")


def _url(kind: str) -> str:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dusk")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/pages.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    # Scratch databases beside DATABASE_URL's, so two checkouts never share them.
    return url.rsplit("/", 1)[0] + "/" + url.rsplit("/", 1)[1].split("?")[0] + f"_bench_pages_{kind}"


def _create_database(url: str) -> bool:
    """A fresh database; with --keep, the one already there if it was seeded (True)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    if KEEP:
        try:
            with psycopg.connect(url) as conn:
                row = conn.execute("SELECT value FROM bench_pages_seeded").fetchone()
            if row and row[0] == _sizes():
                return True
        except psycopg.Error:
            pass
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return False


def _sizes() -> str:
    return f"{N_AGENTS}/{N_CONVERSATIONS}/{N_AUDIT}"


def _setup_django(url: str) -> None:
    os.environ.update(
        DATABASE_URL=url,
        DATABASE_POOL="0",
        DJANGO_SETTINGS_MODULE="portal.settings",
        DJANGO_DEBUG="0",
        DUSK_LOG_LEVEL="ERROR",
        DUSK_FAST_PASSWORD_HASHER="1",
        DUSK_VAR_DIR=str(ROOT / "var" / "bench"),
    )
    import django

    django.setup()


def seed(full: bool) -> dict:
    import random
    from datetime import date, timedelta

    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from channels_app.models import (
        Agent,
        Assignment,
        AuditEvent,
        AutoReply,
        Channel,
        Conversation,
        CutoverRun,
        Message,
        Phase,
        PlanChannel,
        Reassignment,
        RedirectTarget,
        SunsetPlan,
        Team,
    )

    call_command("migrate", verbosity=0)
    rng = random.Random(7)
    now = timezone.now()
    admin = User.objects.create_user("bench-admin", "admin@example.com", "x", is_superuser=True)
    admin.groups.set(Group.objects.filter(name="admin"))
    author = User.objects.create_user("bench-manager", "m@example.com", "x")
    author.groups.set(Group.objects.filter(name="manager"))
    n_channels, n_plans, n_agents, n_teams = (500, 2000, N_AGENTS, max(200, N_AGENTS // 50)) if full else (1, 1, 0, 1)
    kinds = ["x", "youtube", "discourse", "messenger", "email", "chat"]
    channels = Channel.objects.bulk_create(
        [Channel(kind=kinds[i % len(kinds)], name=f"Channel {i:04d}", handle=f"@brand{i}") for i in range(n_channels)]
    )
    teams = Team.objects.bulk_create([Team(name=f"Team {i:03d}", capacity=80, site="Dublin") for i in range(n_teams)])
    for i, team in enumerate(teams):
        team.channels.set([channels[(i * 3 + k) % n_channels] for k in range(3)])
    agents = Agent.objects.bulk_create(
        [Agent(employee_id=f"B{i:06d}", name=f"Agent {i}", email=f"b{i}@example.com") for i in range(n_agents)],
        batch_size=5000,
    )
    Assignment.objects.bulk_create(
        [Assignment(agent=a, team=teams[i % n_teams], starts_on=date(2024, 1, 1)) for i, a in enumerate(agents)],
        batch_size=5000,
    )
    # The first plan is the one the detail pages show: waiting for approval.
    states = ["pending_approval"] + ["scheduled", "draft", "completed", "cancelled", "pending_approval"] * n_plans
    plans = SunsetPlan.objects.bulk_create(
        [SunsetPlan(title=f"Retire channel group {i}", author=author, state=states[i]) for i in range(n_plans)],
        batch_size=2000,
    )
    open_states = {"draft", "pending_approval", "scheduled"}
    PlanChannel.objects.bulk_create(
        [
            PlanChannel(plan=p, channel=channels[i % n_channels], is_open=p.state in open_states and i < n_channels)
            for i, p in enumerate(plans)
        ],
        batch_size=5000,
    )
    phases = []
    for i, p in enumerate(plans):
        for k, kind in enumerate(["notice", "hard_close"]):
            at = now + timedelta(days=10 + i % 300 + 30 * k)
            state = "completed" if p.state == "completed" else ("scheduled" if p.state == "scheduled" else "pending")
            phases.append(
                Phase(
                    plan=p,
                    kind=kind,
                    local_date=at.date(),
                    local_time=at.time(),
                    time_zone="UTC",
                    instant=at,
                    state=state,
                )
            )
    Phase.objects.bulk_create(phases, batch_size=5000)
    RedirectTarget.objects.bulk_create(
        [RedirectTarget(plan=p, position=0, kind="url", label="Help", value="https://help.example.com") for p in plans],
        batch_size=5000,
    )
    AutoReply.objects.bulk_create(
        [
            AutoReply(plan=p, phase_kind="hard_close", locale=loc, text="Support moved: {redirect_url} ({reference})")
            for p in plans
            for loc in ("en", "fr", "id")
        ],
        batch_size=5000,
    )
    n_conv = N_CONVERSATIONS if full else 0
    with connection.cursor() as cur:
        # generate_series: setup, not the measured work (Python objects for 500,000 rows would not fit).
        cur.execute(
            f"""
            INSERT INTO {Conversation._meta.db_table}
              (channel_id, platform_thread_id, customer_id, customer_handle, customer_name, locale, reference,
               state, opened_at, last_message_at)
            SELECT (%s::bigint[])[1 + g %% %s], 't' || g, 'c' || g, '', '', '', 'DSK-P' || lpad(g::text, 8, '0'),
                   'open', %s, %s
            FROM generate_series(0, %s - 1) g
            """,
            [[c.pk for c in channels], n_channels, now, now, n_conv],
        )
    if full:
        pairs = list(Conversation.objects.values_list("id", "channel_id")[: n_conv * 2 // 5])
        Message.objects.bulk_create(
            [
                Message(
                    channel_id=ch,
                    conversation_id=cid,
                    platform_message_id=f"m{cid}",
                    direction="in",
                    text="hello",
                    created_at=now - timedelta(minutes=rng.randint(0, 1400)),
                )
                for cid, ch in pairs
            ],
            batch_size=5000,
        )
        team_of = dict(Assignment.objects.values_list("agent_id", "team_id"))
        Reassignment.objects.bulk_create(
            [
                Reassignment(
                    plan=plans[i % 50],
                    agent=a,
                    from_team_id=team_of[a.pk],
                    to_team=teams[(team_of[a.pk] - teams[0].pk + 1) % n_teams],
                    effective_date=date(2030, 1, 1),
                )
                for i, a in enumerate(agents[: n_agents // 2])
            ],
            batch_size=5000,
        )
    n_events = N_AUDIT if full else 1
    for first in range(0, n_events, 20_000):
        _audit_events(AuditEvent, author, plans, now, range(first, min(first + 20_000, n_events)))
    done = [p for p in plans if p.state == "completed"][:500] if full else []
    done_phases = {ph.plan_id: ph for ph in Phase.objects.filter(plan__in=done, kind="hard_close")}
    runs = [
        CutoverRun(phase=done_phases[p.pk], plan=p, state="completed", queued_at=now, started_at=now, finished_at=now)
        for p in done
    ]
    target = plans[0]
    runs.append(
        CutoverRun(
            phase=Phase.objects.get(plan=target, kind="notice"),
            plan=target,
            state="running",
            queued_at=now,
            started_at=now,
            steps={"conversations": {"state": "running", "done": 10, "total": 100, "started_at": now.isoformat()}},
        )
    )
    CutoverRun.objects.bulk_create(runs)
    with connection.cursor() as cur:
        # What --keep looks for: this database holds a finished seed of these sizes.
        cur.execute("CREATE TABLE bench_pages_seeded (value text)")
        cur.execute("INSERT INTO bench_pages_seeded VALUES (%s)", [_sizes()])
    return _ids()


def _ids() -> dict:
    from channels_app.models import Channel, CutoverRun, SunsetPlan

    target = SunsetPlan.objects.order_by("id").first()
    return {
        "channel": Channel.objects.order_by("id").first().pk,
        "plan": target.pk,
        "run": CutoverRun.objects.get(plan=target).pk,
    }


def _audit_events(model, author, plans, now, numbers) -> None:
    from datetime import timedelta

    model.objects.bulk_create(
        [
            model(
                at=now - timedelta(seconds=i),
                actor=author,
                actor_label="bench-manager",
                action="plan.updated",
                object_type="sunsetplan",
                object_id=str(plans[i % len(plans)].pk),
                before={"title": "before"},
                after={"title": "after"},
                prev_hash="0" * 64,
                hash=f"{i:064x}",
            )
            for i in numbers
        ],
        batch_size=5000,
    )


def serve(ids: dict) -> None:
    """Answer "page name" lines on stdin with the time of one request to it."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    urls = {
        "dashboard": reverse("home"),
        "channels": reverse("channel_list"),
        "channel": reverse("channel_detail", args=[ids["channel"]]),
        "plan": reverse("plan_detail", args=[ids["plan"]]),
        "approvals": reverse("approvals"),
        "review": reverse("approval_review", args=[ids["plan"]]),
        "run": reverse("run_detail", args=[ids["run"]]),
        "audit": reverse("audit_log"),
    }
    with connection.cursor() as cur:
        # VACUUM as well as ANALYZE: what autovacuum does soon after a bulk load on a production
        # server. Without it (autovacuum may be off on a bench machine) the seeded tables have no
        # visibility map, and every index-only count (open conversations per channel, say) reads
        # each counted row from the table too: a state a live database does not stay in.
        cur.execute("VACUUM (ANALYZE)")
    client = Client()
    client.force_login(User.objects.get(username="bench-admin"))
    for name in PAGES:
        for _ in range(WARMUP):
            assert client.get(urls[name]).status_code == 200, name
    print("ready", flush=True)
    for line in sys.stdin:
        name = line.strip()
        start = time.perf_counter()
        response = client.get(urls[name])
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, name
        print(f"{elapsed:.6f}", flush=True)


def child(kind: str, kept: bool) -> None:
    _setup_django(_url(kind))
    start = time.perf_counter()
    if kept:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        ids = _ids()
    else:
        ids = seed(full=kind == "full")
    print(f"seeded {time.perf_counter() - start:.1f}", flush=True)
    serve(ids)


def _p95(times: list[float]) -> float:
    times = sorted(times)
    return times[int(0.95 * (len(times) - 1))]


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3] == "kept")
        return
    servers = {}
    for kind in ("empty", "full"):
        kept = _create_database(_url(kind))
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", kind, "kept" if kept else "new"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        seeded = proc.stdout.readline().strip()
        ready = proc.stdout.readline().strip()
        if not seeded.startswith("seeded") or ready != "ready":
            proc.kill()
            sys.exit(f"{kind} database could not be prepared (see the error above)")
        print(f"{kind}: {seeded} s{' (kept from the last run)' if kept else ''}")
        servers[kind] = proc
    # Requests alternate between the two databases, so both see the same load
    # on this shared machine; only the data differs.
    times: dict[str, dict[str, list[float]]] = {k: {p: [] for p in PAGES} for k in servers}
    for _ in range(REQUESTS):
        for name in PAGES:
            for kind, proc in servers.items():
                proc.stdin.write(name + "\n")
                proc.stdin.flush()
                times[kind][name].append(float(proc.stdout.readline()))
    for proc in servers.values():
        proc.stdin.close()
        proc.wait(timeout=30)
    print(f"\n{'page':<11}{'empty p95 ms':>14}{'full p95 ms':>14}{'ratio':>8}")
    worst = 0.0
    for name in PAGES:
        empty, full = _p95(times["empty"][name]), _p95(times["full"][name])
        worst = max(worst, full / empty)
        print(f"{name:<11}{empty * 1000:>14.1f}{full * 1000:>14.1f}{full / empty:>8.2f}")
    all_empty = _p95([t for ts in times["empty"].values() for t in ts])
    all_full = _p95([t for ts in times["full"].values() for t in ts])
    print(f"{'all pages':<11}{all_empty * 1000:>14.1f}{all_full * 1000:>14.1f}{all_full / all_empty:>8.2f}")
    print(
        f"\n(full: {N_AGENTS:,} agents, 500 channels, 2,000 plans, {N_CONVERSATIONS:,} conversations, "
        f"{N_CONVERSATIONS * 2 // 5:,} messages, {N_AUDIT:,} audit events)"
    )
    # The result is the p95 over every request to the main pages. The worst
    # single page is printed too; on a loaded machine it swings with noise.
    print(f"worst page p95 ratio: {worst:.2f}")
    if PAGES != ALL_PAGES:
        print("(--pages: no RESULT line, which covers every page)")
    elif TEN_X:
        print(f"RESULT pages_p95_ratio_10x={all_full / all_empty:.2f} target=<=1.5")
        print(f"RESULT pages_worst_page_ratio_10x={worst:.2f} target=<=2")
    else:
        print(f"RESULT pages_p95_ratio={all_full / all_empty:.2f} target=<=1.5")


if __name__ == "__main__":
    main()
