#!/usr/bin/env python
"""Auto-replies per second from the outbox sender to a local fake X, on PostgreSQL.

Builds a retired X channel with BENCH_REPLIES (5,000) inbound tweets from as many customers,
each with its pending auto-reply row, then in one run:

  1. baseline: the same number of reply requests sent straight through the X adapter with the
     sender's concurrency (what the fake platform and HTTP allow at best);
  2. the sender: services.send_due_replies() drains every row: claims, loop guard, cooldown
     upserts, locale and placeholders, X weighted length, rate-limit budget, the POST, and
     recording each outcome with its tweet id.

The fake X runs in its own process (so it does not share the sender's interpreter lock) and
checks every request. Prints both rates and ends with
``RESULT outbox_replies_per_s=<sender rate> target=>=200``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dusk python bench/outbox.py
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "dusk_bench_outbox"
N = int(os.environ.get("BENCH_REPLIES", 5000))
TOKEN = "bench-bearer-token"

FAKE = """
import json, sys
from channels_app.tests.support.fakeplatforms import FakeX
fake = FakeX(bearer_token=sys.argv[1]).start()
print(fake.base_url, flush=True)
sys.stdin.read()  # until the bench closes our stdin
fake.stop()
print(json.dumps({"tweets": len(fake.tweets), "replied_to": len({t["in_reply_to"] for t in fake.tweets}),
                  "violations": fake.violations[:5], "n_violations": len(fake.violations)}), flush=True)
"""


def _bench_url() -> str:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dusk")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/outbox.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    return url.rsplit("/", 1)[0] + "/" + BENCH_DB


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DATABASE_POOL"] = "0"
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.dummy.EmailBackend"
    os.environ.setdefault("DUSK_LOG_LEVEL", "WARNING")
    os.environ.setdefault("DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS", "1")  # the fake X listens on 127.0.0.1
    os.environ["DUSK_CHANNEL_BENCH_X_TOKEN"] = TOKEN
    import django

    django.setup()


def create_database(url: str) -> None:
    import psycopg

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def build(base_url: str):
    from datetime import UTC, datetime, timedelta

    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
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
    from channels_app.platforms.adapters.base import InboundMessage
    from channels_app.platforms.services.inbound import receive_messages

    call_command("migrate", verbosity=0)
    manager = User.objects.create_user("bench-manager", "m@example.com", "x")
    approver = User.objects.create_user("bench-approver", "a@example.com", "x")
    manager.groups.set(Group.objects.filter(name="manager"))
    approver.groups.set(Group.objects.filter(name="approver"))
    channel = Channel.objects.create(
        kind="x",
        name="Bench X",
        handle="@brand",
        platform_account_id="783214",
        api_base_url=base_url,
        api_token_env="DUSK_CHANNEL_BENCH_X_TOKEN",
        rate_limit_per_minute=1_000_000,
    )
    at = (timezone.now() + timedelta(minutes=5)).replace(second=0, microsecond=0)
    plan = create_plan(
        actor=manager,
        title="Retire X",
        channel_ids=[channel.pk],
        phases=[PhaseInput("hard_close", at.date(), at.time(), "UTC")],
        redirects=[
            RedirectInput("phone", "Phone", "+1 800 555 0100"),
            RedirectInput("url", "Help centre", "https://help.example.com/contact"),
        ],
        auto_replies=[
            AutoReplyInput("hard_close", "en", "Hi {customer_name}, support moved: call {phone} or visit {redirect_url} (ref {reference})."),
            AutoReplyInput("hard_close", "fr", "Bonjour {customer_name}, le support a déménagé : {phone} ou {redirect_url} (réf {reference})."),
        ],
    )  # fmt: skip
    submit_plan(actor=manager, plan=plan)
    approve_plan(actor=approver, plan=plan)
    (run_id,) = claim_due_phases(now=at + timedelta(seconds=1))
    assert run_cutover(run_id=run_id, worker_id="bench") in ("completed", "delivering")
    channel.refresh_from_db()
    created = datetime.now(UTC)
    messages = [
        InboundMessage(
            platform_message_id=str(10_000_000 + i),
            thread_id=str(10_000_000 + i),
            customer_id=str(500_000 + i),
            customer_handle=f"c{i}",
            customer_name=f"Customer {i}",
            text=f"@brand where is my order {i}?",
            lang="fr" if i % 5 == 0 else "en",
            created_at=created,
            in_reply_to=None,
        )
        for i in range(N)
    ]
    for start in range(0, N, 500):
        receive_messages(channel=channel, messages=messages[start : start + 500])
    return channel


def baseline(base_url: str) -> float:
    """The same requests through the adapter alone, with the sender's concurrency."""
    from concurrent.futures import ThreadPoolExecutor

    from django.conf import settings

    from channels_app.platforms.adapters import x
    from channels_app.platforms.services.outbox import http_client

    client = http_client()
    started = time.perf_counter()
    with ThreadPoolExecutor(settings.DUSK_OUTBOX_CONCURRENCY) as pool:
        list(
            pool.map(
                lambda i: x.send_reply(client, base_url, TOKEN, f"Hi Customer {i}, support moved (ref {i})", str(9_000_000 + i)),
                range(N),
            )
        )  # fmt: skip
    return N / (time.perf_counter() - started)


def main() -> None:
    url = _bench_url()
    create_database(url)
    _setup_django(url)
    fake = subprocess.Popen(
        [sys.executable, "-c", FAKE, TOKEN], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    base_url = fake.stdout.readline().strip()
    try:
        t0 = time.perf_counter()
        build(base_url)
        print(f"built {N:,} pending auto-replies in {time.perf_counter() - t0:.1f}s")
        raw_rate = baseline(base_url)
        print(f"adapter alone : {raw_rate:8.0f} requests/s (baseline: the fake platform and HTTP)")

        from django.db.models import Count

        from channels_app.models import OutboxMessage
        from channels_app.platforms.services.outbox import send_due_replies

        started = time.perf_counter()
        report = send_due_replies(worker_id="bench", time_budget=3600)
        elapsed = time.perf_counter() - started
        states = dict(OutboxMessage.objects.values_list("state").annotate(n=Count("id")))
    finally:
        out, _ = fake.communicate("", timeout=60)
    seen = json.loads(out.strip().splitlines()[-1])
    rate = report.sent / elapsed
    print(f"sender        : {rate:8.0f} replies/s ({report.sent:,} sent in {elapsed:.1f}s, {report})")
    print(f"outbox states : {states}")
    print(f"fake X        : {seen['tweets']:,} tweets, {seen['n_violations']} violations {seen['violations']}")
    if report.sent != N or states != {"sent": N} or seen["tweets"] != 2 * N or seen["n_violations"]:
        sys.exit("the sender did not send every reply exactly once")
    print(f"ratio to the adapter alone: {rate / raw_rate:.2f}")
    print(f"RESULT outbox_replies_per_s={rate:.0f} target=>=200")


if __name__ == "__main__":
    main()
