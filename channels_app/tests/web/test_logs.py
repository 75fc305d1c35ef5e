"""Structured logs: one setting (DUSK_LOG_JSON) turns every line into a JSON object carrying the
request, run, plan and channel ids it was written under."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import logging
import django
django.setup()
from django.test import Client
from channels_app.core.logcontext import log_context

with log_context(run_id=5, plan_id=7, channel_id=9):
    logging.getLogger("dusk.test").warning("inside a run")
response = Client().post(
    "/csp-report/", b"{}", content_type="application/csp-report", headers={"X-Request-ID": "req-abc-123456"}
)
assert response["X-Request-ID"] == "req-abc-123456", response
logging.getLogger("dusk.test").warning("after the request")
"""


def _run(tmp_path, **env: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "DUSK_VAR_DIR": str(tmp_path / "var"),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_json_logs_carry_the_ids_they_were_written_under(tmp_path):
    records = [json.loads(line) for line in _run(tmp_path, DUSK_LOG_JSON="1")]
    by_message = {record["message"]: record for record in records}
    inside = by_message["inside a run"]
    assert inside["level"] == "WARNING" and inside["logger"] == "dusk.test"
    assert (inside["run_id"], inside["plan_id"], inside["channel_id"]) == (5, 7, 9)
    assert "time" in inside
    csp = next(record for record in records if record["message"].startswith("CSP violation reported"))
    assert csp["request_id"] == "req-abc-123456"
    assert "run_id" not in csp
    after = by_message["after the request"]
    assert "request_id" not in after and "run_id" not in after


def test_logs_are_plain_lines_without_the_setting(tmp_path):
    lines = _run(tmp_path)
    assert any(line.endswith("WARNING dusk.test inside a run") for line in lines), lines
    assert not any(line.startswith("{") for line in lines)


@pytest.mark.django_db
@pytest.mark.parametrize("given", ["", "short", "../../etc/passwd", "x" * 65, "a b c d e f g h"])
def test_each_request_gets_an_id_unless_the_proxy_gave_a_sane_one(client, given):
    response = client.get(reverse("login"), headers={"X-Request-ID": given} if given else {})
    assert response["X-Request-ID"] != given
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_a_proxys_request_id_is_kept(client):
    response = client.get(reverse("login"), headers={"X-Request-ID": "f00dcafe-0001"})
    assert response["X-Request-ID"] == "f00dcafe-0001"
