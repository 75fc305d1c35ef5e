#!/usr/bin/env python
"""The outcome report of moved agents (30/60/90 days after the move) for 100,000 moved agents with
400 days of assignment history, on PostgreSQL.

Builds a scratch database (set-based INSERT ... SELECT FROM generate_series: setup, not measured):
300 teams; ten plans, each with a hard-close run that moved 10,000 agents, on days 20, 60, ... 380
(so the last plans' 60- and 90-day marks are still to come on day 400);
every moved agent has an earlier team (day 0-10), the team they were moved from (ended by the run)
and the team they were moved to (started by the run), then one of these fates, by employee number:
50% stay, 15% are moved again, 5% twice, 10% leave with a reason HR recorded (half of them
deactivated), 5% have their assignment ended with no reason, 5% are deactivated with no date,
5% change role in the same team, 5% resign and come back later on another team. 50,000 more agents
were never moved (two assignments each). About 420,000 assignments in all; the report is read on
day 400.

Then times `selectors.outcome_report` overall (every plan, a row per plan) three times and for one
plan, and, as the baseline, the same figures computed in Python from every assignment and
departure of the moved agents (loaded with values_list); both must agree exactly.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dusk python bench/outcomes.py
    make bench-outcomes
"""

import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
N_MOVED = int(os.environ.get("BENCH_MOVED", 100_000))
N_UNMOVED = N_MOVED // 2
N_PLANS = 10
TARGET_SECONDS = 5.0
DAY0 = date(2025, 1, 1)
TODAY = DAY0 + timedelta(days=400)
BENCH_DB = "dusk_bench_outcomes"


def _bench_url() -> str:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dusk")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/outcomes.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    # A scratch database beside DATABASE_URL's, so two checkouts never share one.
    return url.rsplit("/", 1)[0] + "/" + url.rsplit("/", 1)[1].split("?")[0] + "_" + BENCH_DB.removeprefix("dusk_")


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DATABASE_POOL"] = "0"
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
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


# The fates, by g % 20 (g = the agent's number, 1..N_MOVED): see the module docstring.
BUILD_SQL = [
    # Teams 1-100: where agents were first; 101-200: moved from; 201-300: moved to / again.
    """INSERT INTO channels_app_team (name, capacity, languages, skills, site, time_zone, day_one)
       SELECT 'Team ' || t, 5000, '["en"]', '[]', '', 'UTC', '' FROM generate_series(1, 300) t""",
    """INSERT INTO channels_app_agent (employee_id, name, email, languages, skills, site, time_zone, is_active,
                                      preferred_language, page_secret)
       SELECT 'B' || lpad(g::text, 7, '0'), 'Agent ' || g, 'a' || g || '@example.com', '["en"]', '[]', '', 'UTC',
              NOT (g <= %(moved)s AND g %% 20 IN (14, 17)), '', md5(g::text)
       FROM generate_series(1, %(agents)s) g""",
    """CREATE TEMP TABLE bench_g AS
       SELECT a.id AS agent_id, (row_number() OVER (ORDER BY a.id))::int AS g FROM channels_app_agent a""",
    """CREATE TEMP TABLE bench_m AS
       SELECT b.agent_id, b.g, b.g %% 20 AS k, r.id AS run_id, r.move_on
       FROM bench_g b JOIN bench_runs r ON r.n = (b.g / 20) %% %(plans)s  -- every plan gets every fate
       WHERE b.g <= %(moved)s""",
    # Everyone: a first team from day 0 to day 10.
    """INSERT INTO channels_app_assignment (agent_id, team_id, role, starts_on, ends_on)
       SELECT agent_id, 1 + g %% 100, 'Agent', %(day0)s, %(day0)s + 10 FROM bench_g""",
    # Never moved: their team since day 10.
    """INSERT INTO channels_app_assignment (agent_id, team_id, role, starts_on)
       SELECT agent_id, 101 + g %% 100, 'Agent', %(day0)s + 10 FROM bench_g WHERE g > %(moved)s""",
    # Moved: the team they were moved from (day 10 to the move, ended by the run) ...
    """INSERT INTO channels_app_assignment (agent_id, team_id, role, starts_on, ends_on, ended_by_run_id)
       SELECT agent_id, 101 + g %% 100, 'Agent', %(day0)s + 10, move_on, run_id FROM bench_m""",
    # ... and the team they were moved to, started by the run; ended for those who did not stay.
    """INSERT INTO channels_app_assignment (agent_id, team_id, role, starts_on, ends_on, created_by_run_id)
       SELECT agent_id, 201 + g %% 100, 'Agent', move_on,
              CASE WHEN k IN (10, 11, 12, 13) THEN move_on + 15 * (k - 9) + g %% 30
                   WHEN k IN (15, 19) THEN move_on + g %% 120
                   WHEN k = 16 THEN move_on + g %% 90
                   WHEN k = 18 THEN move_on + 25
                   ELSE NULL END,
              run_id
       FROM bench_m""",
    # Moved again (k 10-13), the second time for k = 13; a new role in the same team (k 18).
    """INSERT INTO channels_app_assignment (agent_id, team_id, role, starts_on, ends_on)
       SELECT agent_id, 201 + (g + 37) %% 100, 'Agent', move_on + 15 * (k - 9) + g %% 30,
              CASE WHEN k = 13 THEN move_on + 15 * (k - 9) + g %% 30 + 40 END
       FROM bench_m WHERE k IN (10, 11, 12, 13)""",
    """INSERT INTO channels_app_assignment (agent_id, team_id, role, starts_on)
       SELECT agent_id, 201 + (g + 71) %% 100, 'Agent', move_on + 15 * (k - 9) + g %% 30 + 40
       FROM bench_m WHERE k = 13""",
    """INSERT INTO channels_app_assignment (agent_id, team_id, role, starts_on)
       SELECT agent_id, 201 + g %% 100, 'Lead', move_on + 25 FROM bench_m WHERE k = 18""",
    # Left with a recorded reason (k 14 deactivated; k 15 and 19 not), k 19 back 50 days later.
    """UPDATE channels_app_assignment a SET ends_on = m.move_on + m.g %% 120
       FROM bench_m m WHERE a.agent_id = m.agent_id AND m.k = 14 AND a.created_by_run_id IS NOT NULL""",
    """INSERT INTO channels_app_agentdeparture (agent_id, left_on, reason, note, deactivated, recorded_at)
       SELECT agent_id, move_on + g %% 120,
              CASE WHEN k = 19 THEN 'resigned' ELSE (ARRAY['declined_role', 'resigned', 'other'])[1 + g %% 3] END,
              '', k = 14, now()
       FROM bench_m WHERE k IN (14, 15, 19)""",
    """INSERT INTO channels_app_assignment (agent_id, team_id, role, starts_on)
       SELECT agent_id, 201 + (g + 13) %% 100, 'Agent', move_on + g %% 120 + 50 FROM bench_m WHERE k = 19""",
    # The moves as HR planned them, and the agents' answers on their pages: seven in ten accepted
    # the team they were moved to, one in ten raised a concern, the rest did not answer.
    """INSERT INTO channels_app_reassignment (plan_id, agent_id, from_team_id, to_team_id, role, effective_date,
                                             state, applied_by_run_id)
       SELECT r.plan_id, m.agent_id, 101 + m.g %% 100, 201 + m.g %% 100, 'Agent', m.move_on, 'done', m.run_id
       FROM bench_m m JOIN channels_app_cutoverrun r ON r.id = m.run_id""",
    """INSERT INTO channels_app_agentanswer (reassignment_id, about_team_id, answer, concern, answered_at, hr_reply)
       SELECT x.id, x.to_team_id, CASE WHEN m.g %% 10 < 7 THEN 'accepted' ELSE 'concern' END,
              CASE WHEN m.g %% 10 < 7 THEN '' ELSE 'A question' END, now(), ''
       FROM channels_app_reassignment x JOIN bench_m m ON m.agent_id = x.agent_id
       WHERE m.g %% 10 < 8""",
]


def build() -> None:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection, transaction

    from channels_app.models import CutoverRun, Phase, PhaseKind, SunsetPlan

    call_command("migrate", verbosity=0)
    author = User.objects.create_user("bench-manager", "manager@example.com", "x")
    with transaction.atomic():
        runs = []
        for n in range(N_PLANS):
            move_on = DAY0 + timedelta(days=20 + 40 * n)
            plan = SunsetPlan.objects.create(title=f"Bench plan {n + 1}", author=author, state="completed")
            phase = Phase.objects.create(
                plan=plan,
                kind=PhaseKind.HARD_CLOSE,
                local_date=move_on,
                local_time="00:00",
                time_zone="UTC",
                instant=datetime.combine(move_on, dt_time(0, 0), tzinfo=UTC),
                state="completed",
            )
            run = CutoverRun.objects.create(phase=phase, plan=plan, state="completed", queued_at=phase.instant)
            runs.append((n, run.pk, move_on))
        with connection.cursor() as cur:
            cur.execute("CREATE TEMP TABLE bench_runs (n int, id bigint, move_on date)")
            cur.executemany("INSERT INTO bench_runs VALUES (%s, %s, %s)", runs)
            params = {"moved": N_MOVED, "agents": N_MOVED + N_UNMOVED, "plans": N_PLANS, "day0": DAY0}
            for sql in BUILD_SQL:
                cur.execute(sql, params)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")


def python_baseline() -> dict:
    """The same states, computed in Python from the rows (the way a report written without SQL
    would): every move, every assignment and departure of the moved agents, then a loop."""
    from channels_app.models import Agent, AgentDeparture, Assignment
    from channels_app.workforce.selectors import OUTCOME_DAYS

    moves = list(
        Assignment.objects.filter(created_by_run__isnull=False).values_list(
            "agent_id", "team_id", "starts_on", "created_by_run__plan_id"
        )
    )
    moved_ids = {m[0] for m in moves}
    history = defaultdict(list)
    for agent_id, team_id, starts_on, ends_on in Assignment.objects.filter(agent_id__in=moved_ids).values_list(
        "agent_id", "team_id", "starts_on", "ends_on"
    ):
        history[agent_id].append((team_id, starts_on, ends_on))
    inactive = set(Agent.objects.filter(pk__in=moved_ids, is_active=False).values_list("id", flat=True))
    departures = defaultdict(list)
    for agent_id, left_on, pk, reason in AgentDeparture.objects.filter(agent_id__in=moved_ids).values_list(
        "agent_id", "left_on", "id", "reason"
    ):
        departures[agent_id].append((left_on, pk, reason))
    counts = Counter()
    for agent_id, team_id, start, _plan in moves:
        for days in OUTCOME_DAYS:
            day = start + timedelta(days=days)
            if day > TODAY:
                state = "not_yet"
            else:
                covering = [
                    t for t, s, e in history[agent_id] if s <= day and (e > day if e else agent_id not in inactive)
                ]
                if team_id in covering:
                    state = "in_role"
                elif covering:
                    state = "moved_again"
                else:
                    known = sorted(d for d in departures[agent_id] if start <= d[0] <= day)
                    state = known[-1][2] if known else "not_recorded"
            counts[(days, state)] += 1
    return counts


def main() -> int:
    url = _bench_url()
    create_database(url)
    _setup_django(url)
    from django.db import connection

    from channels_app.models import Assignment, SunsetPlan
    from channels_app.workforce.selectors import outcome_report

    t0 = time.perf_counter()
    build()
    n_assignments = Assignment.objects.count()
    print(
        f"built {N_MOVED:,} moved agents (+{N_UNMOVED:,} never moved), {n_assignments:,} assignments over 400 days "
        f"in {time.perf_counter() - t0:.1f}s"
    )

    timings = []
    for _ in range(3):
        started = time.perf_counter()
        report = outcome_report(today=TODAY)
        timings.append(time.perf_counter() - started)
    print(f"overall : {', '.join(f'{t:.2f}s' for t in timings)}  (three reads; every plan, a row per plan)")
    one_plan = SunsetPlan.objects.order_by("id").first()
    started = time.perf_counter()
    single = outcome_report(one_plan, today=TODAY)
    t_plan = time.perf_counter() - started
    print(f"one plan: {t_plan:.2f}s  ({single.total.moved:,} moved)")
    for cp in report.total.checkpoints:
        left = ", ".join(f"{reason} {n:,}" for reason, n in cp.left.items())
        print(
            f"day {cp.days:3}: reached {cp.reached:,}, in role {cp.in_role:,} ({cp.in_role_percent}%), "
            f"moved again {cp.moved_again:,}, left {cp.left_total:,} ({left}), not yet {cp.not_yet:,}"
        )

    started = time.perf_counter()
    expected = python_baseline()
    t_baseline = time.perf_counter() - started
    print(f"baseline: {t_baseline:.2f}s  the same figures computed in Python from every row")
    got = Counter()
    for cp in report.total.checkpoints:
        for state, n in (("in_role", cp.in_role), ("moved_again", cp.moved_again), ("not_yet", cp.not_yet)):
            got[(cp.days, state)] += n
        for reason, n in cp.left.items():
            got[(cp.days, reason)] += n
    got = +got  # drop zeros
    accepted = sum(1 for g in range(1, N_MOVED + 1) if g % 10 < 7)  # as the set-up answered
    agree = got == expected and report.total.moved == N_MOVED and report.total.accepted == accepted
    print(
        f"checks  : SQL and Python agree on every count: {agree}; moved = {report.total.moved:,}, "
        f"accepted = {report.total.accepted:,} (set up: {accepted:,})"
    )
    connection.close()

    result = max(timings)
    label = "100k" if N_MOVED == 100_000 else f"{N_MOVED // 1000}k"
    print(f"RESULT outcomes_{label}_s={result:.2f} target=<={TARGET_SECONDS:g}")
    print(f"(the slowest of the three overall reads; median {statistics.median(timings):.2f}s)")
    return 0 if result <= TARGET_SECONDS and agree else 1


if __name__ == "__main__":
    sys.exit(main())
