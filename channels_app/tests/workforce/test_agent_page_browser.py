"""The agent's page in a real browser (Debian's Chromium driven by Playwright): the move email
caught by the local SMTP server is in the agent's language, its link opens their page, they tick
a checklist item and raise a concern; HR sees it on the board, changes the destination and emails
the agent, who receives the new email once and sees the new team. Screenshots go to
artifacts/screenshots/; every page is checked for Content-Security-Policy violations."""

import re
from datetime import time

import pytest

from channels_app.models import AgentAnswer, AuditEvent, ChecklistTick, OnboardingItem, Reassignment
from channels_app.tests.support.browser import Session
from channels_app.tests.support.factories import TeamFactory
from channels_app.tests.support.helpers import submit_and_approve
from channels_app.tests.support.workforce_helpers import build_world, world_plan
from channels_app.workforce.services.moves import (
    accept_suggestion,
    confirm_moves,
    notify_agents,
    send_agent_notices,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LINK = re.compile(r"https?://\S+/agent/\S+/")


@pytest.fixture
def browse(browse):
    """The shared browse fixture, with every session also checked for CSP violations."""
    sessions: list[Session] = []

    def start(name: str) -> Session:
        session = browse(name)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.check_csp()
        assert session.violations == [], f"{session.name}: {session.violations}"


def _mail_to(smtp, email: str) -> list:
    return [m.message for m in smtp.messages if m.message["To"] == email]


def test_an_agent_answers_on_their_page_and_hr_changes_the_move(
    browse, live_server, settings, smtp_settings, manager, approver, hr_coordinator
):
    settings.DUSK_PUBLIC_URL = live_server.url  # the links in the emails point at this server
    world = build_world()
    chat = TeamFactory(name="Chat Jakarta", capacity=4, languages=["id"], site="Jakarta", time_zone="Asia/Jakarta")
    apac = world.phone_apac
    apac.day_one = "Menara BCA, lantai 12"
    apac.shift_start, apac.shift_end = time(8), time(16)
    apac.save()
    training = OnboardingItem.objects.create(
        team=apac, position=1, title="Pelatihan sistem telepon", url="https://learn.example.com/phone"
    )
    OnboardingItem.objects.create(team=apac, position=2, title="Ambil headset")
    dewi = world.agents["Dewi"]
    dewi.preferred_language = "id"
    dewi.languages = ["id", "en"]
    dewi.save()
    plan = world_plan(world, manager)
    accept_suggestion(actor=hr_coordinator, plan=plan)
    confirm_moves(actor=hr_coordinator, plan=plan)
    plan = submit_and_approve(plan, manager=manager, approver=approver)
    notify_agents(actor=hr_coordinator, plan=plan)
    assert send_agent_notices() == 5

    (email,) = _mail_to(smtp_settings, dewi.email)
    assert email["Subject"].startswith("[Dusk] Tim baru Anda")  # Indonesian, as she prefers
    body = email.get_content()
    assert "Halo Dewi," in body
    link = LINK.search(body).group(0)

    # --- the agent, with no account, follows the link --------------------------------------------
    agent = browse("agent")
    page = agent.goto(link.removeprefix(live_server.url))
    assert page.locator("html").get_attribute("lang") == "id"
    assert page.locator("#team-name").inner_text() == "Phone APAC"
    assert "08:00–16:00 (Asia/Jakarta)" in page.content()
    agent.shot("agent-page-1-opened")
    page.locator(f'button[data-item="{training.pk}"]').click()
    page.wait_for_url(re.compile(r".*saved=1$"))
    assert "1 dari 2 selesai" in page.content()
    page.locator("#answer-concern").check()
    page.locator("#id_concern").fill("Bisakah saya tetap libur hari Jumat?")
    page.locator("#send-answer").click()
    page.wait_for_url(re.compile(r".*saved=1$"))
    assert "Bisakah saya tetap libur hari Jumat?" in page.locator("#current-answer").inner_text()
    agent.shot("agent-page-2-concern")

    move = Reassignment.objects.get(agent=dewi)
    assert ChecklistTick.objects.filter(reassignment=move, item=training).exists()
    assert AgentAnswer.objects.get(reassignment=move).answer == "concern"
    assert set(AuditEvent.objects.filter(action__startswith="agent.").values_list("actor_label", "actor_id")) == {
        (f"agent:{dewi.employee_id}", None)
    }

    # --- HR sees the concern on the board and changes the destination -------------------------------
    hr = browse("hr")
    hr.login(hr_coordinator.username)
    board = hr.goto(f"/plans/{plan.pk}/reassignments/?status=concern")
    row = board.locator(f"#agent-{dewi.pk}")
    assert "Bisakah saya tetap libur hari Jumat?" in row.inner_text()
    assert board.locator(f"#agent-{world.agents['Chen'].pk}").count() == 0  # the filter
    hr.shot("agent-page-3-board-concern")
    row.locator('input[type="checkbox"][name="agent_ids"]').check()
    board.locator("#bulk-team").fill(chat.name)
    board.locator('#bulk input[name="confirm"]').check()
    board.get_by_role("button", name="Assign selected").click()
    board.wait_for_load_state()
    # Her concern was about Phone APAC: about Chat Jakarta she has not answered yet.
    hr.goto(f"/plans/{plan.pk}/reassignments/?status=no_answer")
    board = hr.page
    board.locator(f'#agent-{dewi.pk} input[type="checkbox"][name="agent_ids"]').check()
    board.get_by_role("button", name="Email selected").click()
    board.locator("#notify-send").click()
    board.wait_for_load_state()
    hr.shot("agent-page-4-board-emailed")

    # --- the agent is told once, and their page follows ----------------------------------------------
    assert send_agent_notices() == 1 and send_agent_notices() == 0
    mail = _mail_to(smtp_settings, dewi.email)
    assert len(mail) == 2 and "Chat Jakarta" in mail[-1]["Subject"]
    page = agent.goto(link.removeprefix(live_server.url))
    assert page.locator("#team-name").inner_text() == "Chat Jakarta"
    agent.shot("agent-page-5-new-team")
