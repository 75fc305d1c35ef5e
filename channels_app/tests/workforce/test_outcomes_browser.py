"""The outcome pages in a real browser (Debian's Chromium driven by Playwright): the chart and the
table draw under the strict Content-Security-Policy, and HR records a departure through the form.
Screenshots go to artifacts/screenshots/."""

import pytest

from channels_app.models import AgentDeparture
from channels_app.tests.support.browser import Session
from channels_app.tests.support.outcome_helpers import build_history

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browse(browse):
    """The shared browse fixture, with every session also checked for CSP violations at the end."""
    sessions: list[Session] = []

    def start(name: str) -> Session:
        session = browse(name)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.check_csp()
        assert session.violations == [], f"{session.name}: {session.violations}"


def test_hr_reads_the_outcomes_and_records_a_departure(browse, hr_coordinator, manager):
    history = build_history(hr_coordinator)
    kim = history.agents["Kim"]

    hana = browse("hr")
    hana.login("hana")
    page = hana.goto("/")
    page.get_by_role("link", name="Outcomes").first.click()
    page.wait_for_url("**/outcomes/")
    hana.shot("outcomes-01-every-plan")
    assert "12 agents moved" in page.locator("#outcome-summary").inner_text()
    assert page.locator("svg.chart rect.seg-in_role").count() == 3
    assert "Retire X" in page.locator("#outcome-plans").inner_text()

    page.locator("#outcome-plans").get_by_role("link", name="Retire the forum").click()
    page.wait_for_url(f"**/plans/{history.plan_b.pk}/outcomes/")
    form = page.locator("#record-departure")
    form.get_by_label("Employee id").fill(kim.employee_id)
    form.get_by_label("Left on").fill("2026-03-15")
    form.get_by_label("Reason").select_option("declined_role")
    form.get_by_label("Note").fill("Prefers chat")
    form.get_by_role("button", name="Record the departure").click()
    page.wait_for_selector(".messages")
    hana.shot("outcomes-02-plan-after-a-departure")
    assert "Recorded:" in page.locator(".messages").inner_text()
    # Kim left 23 days after the move: on day 30 the plan's two agents have both left.
    day30 = page.locator("#outcome-table tbody tr").first.inner_text()
    assert day30.split()[:7] == ["30", "2", "0", "(0", "%)", "0", "2"]  # day, reached, in role, moved again, left

    maya = browse("manager")
    maya.login("maya")
    page = maya.goto(f"/plans/{history.plan_a.pk}/")
    page.get_by_role("link", name="Outcomes", exact=True).last.click()
    page.wait_for_url(f"**/plans/{history.plan_a.pk}/outcomes/")
    maya.shot("outcomes-03-manager-plan")
    assert page.locator("#record-departure").count() == 0

    assert AgentDeparture.objects.get(agent=kim).reason == "declined_role"
