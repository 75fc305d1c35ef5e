#!/usr/bin/env python
"""Delay from a phase's scheduled instant to the start of its run, with a real
Celery worker and beat on PostgreSQL and Redis.

Schedules 20 approved plans a few seconds ahead (spread over ~10 s), starts
`celery worker -B` with the default sweep interval, and reports the delay of
each run's start after its instant.

    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... python bench/schedule_lag.py
"""

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "dusk_bench_lag"
N_PHASES = int(os.environ.get("BENCH_PHASES", 20))


def main() -> None:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dusk")
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/9")
    if not base.startswith(("postgres://", "postgresql://")) or not broker.startswith("redis://"):
        sys.exit("bench/schedule_lag.py needs PostgreSQL and Redis: set DATABASE_URL and CELERY_BROKER_URL")
    url = base.rsplit("/", 1)[0] + "/" + BENCH_DB
    import psycopg
    import redis

    with psycopg.connect(base.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    redis.Redis.from_url(broker).flushdb()
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DATABASE_POOL": "0",
            "CELERY_BROKER_URL": broker,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DUSK_LOG_LEVEL": "WARNING",
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        }
    )
    import django

    django.setup()
    from datetime import timedelta

    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.utils import timezone

    from channels_app.models import Channel, CutoverRun
    from channels_app.plans.services.plans import (
        AutoReplyInput,
        PhaseInput,
        RedirectInput,
        approve_plan,
        create_plan,
        submit_plan,
    )
    from channels_app.tests.support.sandbox import bench_channel, bench_sandbox

    call_command("migrate", verbosity=0)
    manager = User.objects.create_user("lag-manager", "m@example.com", "x")
    approver = User.objects.create_user("lag-approver", "a@example.com", "x")
    manager.groups.set(Group.objects.filter(name="manager"))
    approver.groups.set(Group.objects.filter(name="approver"))

    bench_sandbox()  # before the worker starts: its freeze step tests the token too
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DUSK_VAR_DIR": tmp, "PYTHONUNBUFFERED": "1", "DUSK_LOG_LEVEL": "INFO"}
        log = open(Path(tmp) / "worker.log", "wb")  # noqa: SIM115 (closed below)
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-B",
                "-s",
                str(Path(tmp) / "beat"),
                "--concurrency=2",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while b" ready." not in (Path(tmp) / "worker.log").read_bytes():
                if time.monotonic() > deadline or worker.poll() is not None:
                    sys.exit("worker did not start:\n" + (Path(tmp) / "worker.log").read_text())
                time.sleep(0.2)
            start = timezone.now() + timedelta(seconds=4)
            for i in range(N_PHASES):
                channel = Channel.objects.create(kind="x", name=f"Lag channel {i}", **bench_channel("x"))
                at = start + timedelta(seconds=i * 0.5, milliseconds=137 * (i % 7))
                plan = create_plan(
                    actor=manager,
                    title=f"Lag plan {i}",
                    channel_ids=[channel.pk],
                    phases=[PhaseInput("hard_close", at.date(), at.time(), "UTC")],
                    redirects=[RedirectInput("phone", "Phone", "+1 800 555 0100")],
                    auto_replies=[AutoReplyInput("hard_close", "en", "Call {phone}.")],
                )
                submit_plan(actor=manager, plan=plan)
                approve_plan(actor=approver, plan=plan)
            deadline = time.monotonic() + 90
            while CutoverRun.objects.filter(started_at__isnull=False).count() < N_PHASES:
                if time.monotonic() > deadline:
                    sys.exit("not every phase started in time")
                time.sleep(0.5)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
            log.close()
        lags = sorted(
            (run.started_at - run.phase.instant).total_seconds() for run in CutoverRun.objects.select_related("phase")
        )
    early = [lag for lag in lags if lag < 0]
    p99 = lags[min(len(lags) - 1, int(round(0.99 * (len(lags) - 1))))]
    print(f"phases: {len(lags)}  sweep interval: {os.environ.get('DUSK_SWEEP_INTERVAL', '1')} s")
    print(f"lag s: min {lags[0]:.3f}  p50 {statistics.median(lags):.3f}  p99 {p99:.3f}  max {lags[-1]:.3f}")
    print(f"runs started before their instant: {len(early)}")
    if early:
        sys.exit("a run started before its instant")
    print(f"RESULT schedule_lag_p99_s={p99:.3f} target=<=2")


if __name__ == "__main__":
    main()
