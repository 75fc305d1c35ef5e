"""`manage.py serve_sandbox`: the platform fakes on loopback for the demo, a page of what they
received, and the switch that makes a platform answer 401."""

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]


def test_the_sandbox_serves_the_fakes_lists_what_they_received_and_can_refuse_credentials():
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve_sandbox", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while "page" not in lines and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("Sandbox page"):
                lines["page"] = line.rsplit(" ", 1)[1].strip()
            elif line.split() and line.split()[0] in ("x", "youtube", "discourse", "messenger"):
                lines[line.split()[0]] = line.split()[1]
        assert set(lines) == {"x", "youtube", "discourse", "messenger", "page"}, lines
        with httpx.Client(timeout=5) as client:
            me = client.get(lines["x"] + "/2/users/me", headers={"Authorization": "Bearer x-bearer-token"})
            assert me.json()["data"]["username"] == "brand_support"
            page = client.get(lines["page"]).text
            assert "1 requests · accepts its credentials" in page and "GET /2/users/me" in page
            token = re.search(r"name='token' value='([^']+)'", page).group(1)
            refused = client.post(lines["page"] + "switch", data={"platform": "x", "action": "refuse", "token": "no"})
            assert refused.status_code == 403
            switched = client.post(lines["page"] + "switch", data={"platform": "x", "action": "refuse", "token": token})
            assert switched.status_code == 303
            me = client.get(lines["x"] + "/2/users/me", headers={"Authorization": "Bearer x-bearer-token"})
            assert me.status_code == 401
            assert "answers 401 to everything" in client.get(lines["page"]).text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
