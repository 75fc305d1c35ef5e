"""The embedded demo (`make run`) keeps its data in SQLite: a hard close must run there too, not
only on the PostgreSQL the rest of the suite uses. A child process migrates a fresh SQLite file,
builds a plan on a channel of the test sandbox, and runs its cutover."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

CHILD = """
import json
from datetime import timedelta

import django

django.setup()
from django.contrib.auth.models import Group, User
from django.core.management import call_command

call_command("migrate", verbosity=0)
from channels_app.core.permissions import ensure_roles
from channels_app.cutover.services.engine import claim_due_phases, run_cutover
from channels_app.models import Conversation, OutboxMessage
from channels_app.tests.support.factories import ChannelFactory, ConversationFactory
from channels_app.tests.support.helpers import hard_close_plan, submit_and_approve

ensure_roles()
people = {}
for name, role in (("maya", "manager"), ("arjun", "approver")):
    people[role] = User.objects.create_user(username=name, email=f"{name}@example.com")
    people[role].groups.set(Group.objects.filter(name=role))
x = ChannelFactory(kind="x")
for i in range(7):  # seven conversations of four customers
    ConversationFactory(channel=x, customer_id=f"c{i % 4}")
plan = submit_and_approve(
    hard_close_plan(manager=people["manager"], channels=[x]), manager=people["manager"], approver=people["approver"]
)
run_ids = claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))
print(json.dumps({
    "result": run_cutover(run_id=run_ids[0], worker_id="sqlite"),
    "moved": Conversation.objects.filter(moved_by_run_id=run_ids[0]).count(),
    "handoffs": OutboxMessage.objects.filter(created_by_run_id=run_ids[0], kind="handoff").count(),
}))
"""


def test_a_hard_close_runs_on_the_embedded_sqlite_database(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",  # as `make run`: queued in files under DUSK_VAR_DIR
        "DUSK_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"result": "delivering", "moved": 7, "handoffs": 4}
