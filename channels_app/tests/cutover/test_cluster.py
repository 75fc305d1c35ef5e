"""Many nodes on one machine (bench/cluster.py) at one trial: two gunicorn web nodes behind a
round-robin proxy, three workers on two queues and two beats, on PostgreSQL and a private
RabbitMQ node; webhook traffic to both web nodes and a cutover while one node of each kind is
SIGKILLed. Locally: `make bench-cluster` (3 trials)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.worker
@pytest.mark.django_db
def test_a_cluster_losing_a_node_of_each_kind_stores_answers_and_fires_everything_once():
    if connection.vendor != "postgresql":
        pytest.skip("the cluster needs PostgreSQL: set DATABASE_URL (make test does)")
    if not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists():
        if os.environ.get("CI"):
            pytest.fail("rabbitmq-server is missing: .ci/run installs Debian's package")
        pytest.skip("rabbitmq-server not installed (apt-get install rabbitmq-server)")
    result = subprocess.run(
        [sys.executable, "bench/cluster.py", "--trials", "1", "--conversations", "1500"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(result.stdout[-4000:])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "RESULT cluster_trials=1 duplicates=0 lost=0 double_fired=0" in result.stdout
    assert "killed ['web" in result.stdout
