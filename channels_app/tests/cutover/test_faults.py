"""The fault-injection harness (bench/faults.py) at a small count: real
workers, beat and Redis, with workers SIGKILLed, Redis restarted and
PostgreSQL backends terminated while cutovers run. Locally: `make faults`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.worker
@pytest.mark.django_db
def test_cutovers_survive_injected_faults_with_nothing_doubled_or_lost():
    if connection.vendor != "postgresql":
        pytest.skip("the harness needs PostgreSQL: set DATABASE_URL (make test does)")
    trials = os.environ.get("FAULT_TRIALS_IN_TESTS", "2")
    result = subprocess.run(
        [sys.executable, "bench/faults.py", "--trials", trials, "--conversations", "1500"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(result.stdout[-4000:])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert f"RESULT fault_trials={trials} duplicates=0 lost=0" in result.stdout
    assert result.stdout.count("completed in") == int(trials)
