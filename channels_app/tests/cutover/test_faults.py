"""The fault-injection harness (bench/faults.py) at a small count: real
workers, beat and a broker of its own (Redis, then RabbitMQ), with workers
SIGKILLed, the broker killed and restarted and PostgreSQL backends terminated
while cutovers run. Locally: `make faults` (BROKER=rabbitmq for RabbitMQ)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.worker
@pytest.mark.django_db
@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_cutovers_survive_injected_faults_with_nothing_doubled_or_lost(broker):
    if connection.vendor != "postgresql":
        pytest.skip("the harness needs PostgreSQL: set DATABASE_URL (make test does)")
    if broker == "rabbitmq" and not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists():
        if os.environ.get("CI"):
            pytest.fail("rabbitmq-server is missing: .ci/run installs Debian's package")
        pytest.skip("rabbitmq-server not installed (apt-get install rabbitmq-server)")
    if broker == "redis" and not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    # A RabbitMQ node takes ~10 s to come back from each kill, so its trial is long: one of it.
    trials = os.environ.get("FAULT_TRIALS_IN_TESTS", "2" if broker == "redis" else "1")
    result = subprocess.run(
        [sys.executable, "bench/faults.py", "--trials", trials, "--conversations", "1500", "--broker", broker],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(result.stdout[-4000:])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert f"RESULT fault_trials={trials} duplicates=0 lost=0 wrong_final_state=0 broker={broker}" in result.stdout
    assert result.stdout.count("completed in") == int(trials)
