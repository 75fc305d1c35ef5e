"""The reassignment board in a real browser (Debian's Chromium driven by Playwright): a row edit
swaps the row and refreshes the seats without reloading the page."""

import contextlib
import os
import re
import shutil

import pytest

from channels_app.models import Reassignment
from channels_app.tests.support.workforce_helpers import build_world, world_plan

CHROMIUM = os.environ.get("DUSK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.django_db(transaction=True)


@contextlib.contextmanager
def chromium():
    """Playwright runs an event loop in this thread while open, and Django refuses ORM calls
    then: tests touch the database only before and after this block."""
    missing = None
    try:
        from playwright import sync_api
    except ImportError:
        missing = "the playwright package is missing: pip install -r requirements-dev.txt"
    if not shutil.which(CHROMIUM):
        missing = f"{CHROMIUM} is missing: apt-get install -y chromium"
    if missing:
        # Locally a missing browser skips; in CI it must not hide the test.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(missing)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_a_row_edit_updates_the_row_and_the_seats_in_place(live_server, client, manager, hr_coordinator):
    # Everything the database needs is written before the browser's event loop starts.
    world = build_world()
    plan = world_plan(world, manager)
    emea, chen, dewi = world.phone_emea.pk, world.agents["Chen"].pk, world.agents["Dewi"].pk
    client.force_login(hr_coordinator)
    session = client.cookies["sessionid"].value

    errors: list[str] = []  # JavaScript errors
    failed: list[tuple[int, str]] = []  # answers >= 400
    with chromium() as browser:
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("response", lambda r: failed.append((r.status, r.url.split("/", 3)[-1])) if r.status >= 400 else None)
        page.goto(f"{live_server.url}/plans/{plan.pk}/reassignments/")
        seats = page.locator(f"#team-{emea} td.free")
        assert seats.inner_text().strip() == "3 / 5"
        assert page.locator("#without-count").inner_text().startswith("5 ")
        page.evaluate("window.duskMarker = 'same page'")

        row = page.locator(f"#agent-{chen}")
        row.locator("input[name=to_team]").fill("Phone EMEA")
        row.locator("button[type=submit]").click()
        page.locator(f"#agent-{chen} .state-proposed").wait_for()
        # A locator wait, not wait_for_function: the page's CSP (rightly) forbids eval.
        page.locator(f"#team-{emea} td.free").filter(has_text=re.compile(r"^\s*2 / 5\s*$")).wait_for(timeout=10_000)
        assert page.locator("#without-count").inner_text().startswith("4 ")

        # A refused edit shows its reason in the row.
        row = page.locator(f"#agent-{dewi}")
        row.locator("input[name=to_team]").fill("Phone EMEA")
        row.locator("button[type=submit]").click()
        page.locator(f"#agent-{dewi} .errorlist").wait_for()
        assert re.search(r"speaks id, but Phone EMEA requires fr or en", page.locator(f"#agent-{dewi}").inner_text())
        assert page.evaluate("window.duskMarker") == "same page"  # no reload happened
        context.close()
    assert errors == []
    # The only failed request is the refused edit (the browser also asks for a favicon there is none of).
    assert [f for f in failed if not f[1].endswith("favicon.ico")] == [(422, f"plans/{plan.pk}/reassignments/assign/")]
    assert dict(Reassignment.objects.values_list("agent_id", "to_team_id")) == {chen: emea}
