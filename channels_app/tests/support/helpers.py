"""Small helpers shared by the tests."""

import json
import os
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from channels_app.plans.services.plans import (
    AutoReplyInput,
    PhaseInput,
    RedirectInput,
    approve_plan,
    confirm_reassignments,
    create_plan,
    submit_plan,
)
from channels_app.workforce.services.moves import assign_agents

HARD_CLOSE_REPLY = "Hi {customer_name}, support moved: call {phone} or visit {redirect_url} (ref {reference})."
# A person's browser, as the landing page at the tracked link sees one (robots are not counted).
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"

REDIRECTS = [
    RedirectInput("phone", "Phone support", "+1 800 555 0100"),
    RedirectInput("url", "Contact form", "https://help.example.com/contact"),
]


def wait_for(predicate, *, timeout: float, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def utc_phase(kind: str, at: datetime, region: str = "") -> PhaseInput:
    at = at.astimezone(UTC)
    return PhaseInput(kind, at.date(), at.time(), "UTC", region)


def hard_close_plan(*, manager, channels, at: datetime | None = None, **kwargs):
    at = at or timezone.now() + timedelta(days=30)
    return create_plan(
        actor=manager,
        title=kwargs.pop("title", "Retire social support"),
        channel_ids=[c.pk for c in channels],
        phases=kwargs.pop("phases", [utc_phase("hard_close", at)]),
        redirects=kwargs.pop("redirects", REDIRECTS),
        auto_replies=kwargs.pop("auto_replies", [AutoReplyInput("hard_close", "en", HARD_CLOSE_REPLY)]),
        **kwargs,
    )


def submit_and_approve(plan, *, manager, approver):
    submit_plan(actor=manager, plan=plan)
    return approve_plan(actor=approver, plan=plan)


def approved_plan(*, manager, approver, channels, at: datetime | None = None, **kwargs):
    """A plan approved straight away: its channels must have no affected agents (the submit
    guard refuses otherwise); give them destinations first and use submit_and_approve."""
    plan = hard_close_plan(manager=manager, channels=channels, at=at, **kwargs)
    return submit_and_approve(plan, manager=manager, approver=approver)


SHARED_DATA = Path(os.environ.get("DUSK_SHARED_DATA", Path(__file__).resolve().parents[4] / "shared" / "data"))


def shared_data(name: str) -> Path:
    """A file of ../shared/data. Missing locally: skip; missing in CI: fail,
    because the known answers there must always be checked."""
    path = SHARED_DATA / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must run with shared/ beside the checkout")
        pytest.skip(f"{path} not present")
    return path


def move_everyone(plan, *, hr_coordinator, agents, to_team):
    """HR gives each agent a confirmed destination (what the submit guard asks)."""
    assign_agents(
        actor=hr_coordinator,
        plan=plan,
        agent_ids=[agent.pk for agent in agents],
        to_team=to_team,
        effective_date=plan.phases.first().local_date,
    )
    confirm_reassignments(actor=hr_coordinator, plan=plan)


TWITTER_TEXT = Path(__file__).resolve().parent / "twitter_text"


def official_weighted_lengths(texts: list[str], config: str = "version3") -> list[int]:
    """X's weighted length of each text by the official twitter-text (npm, run with node), the
    oracle channels_app's own count is held to. `make install-dev` installs it (npm ci)."""
    if not (TWITTER_TEXT / "node_modules" / "twitter-text").is_dir():
        pytest.fail(f"twitter-text is not installed: run `npm ci` in {TWITTER_TEXT} (make install-dev does)")
    answer = subprocess.run(
        ["node", str(TWITTER_TEXT / "weighted_length.js"), config],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(answer.stdout)


ROOT = Path(__file__).resolve().parents[3]


def readme_production_block() -> str:
    """The README's production environment (shell lines between the production-env markers)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- production-env:begin -->\s*```sh\n(.*?)```\s*<!-- production-env:end -->", text, re.S)
    assert block, "README.md must keep its production environment block between the production-env markers"
    return block.group(1)


def readme_production_env() -> dict[str, str]:
    """The variables the README's production block exports, as bash evaluates them."""
    script = f"set -e\n{readme_production_block()}\nenv -0"
    out = subprocess.run(["bash", "-c", script], env={"PATH": os.environ["PATH"]}, capture_output=True, check=True)
    values = dict(line.split("=", 1) for line in out.stdout.decode().split("\0") if "=" in line)
    names = re.findall(r"^export (\w+)=", readme_production_block(), re.M)
    return {name: values[name] for name in names}


def mail_without_plan_notices(smtp) -> list:
    """What the SMTP fake received, less the emails that tell people a plan moved (submitted,
    approved, run started: plans/services/notices.py), which a worker with beat also sends."""
    return [m for m in smtp.messages if not (m.message["Message-ID"] or "").startswith("<dusk-plan-notice-")]
