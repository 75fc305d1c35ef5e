"""What HR and approvers see in a real browser (Debian's Chromium driven by Playwright), one test
per finding about the workforce side: a team pushed over capacity is shown before anyone clicks;
suggestions avoid teams that are leaving and label relocations; agent emails wait for approval and
a confirmation, and speak each agent's language. Screenshots go to artifacts/screenshots/, and
every page is checked for Content-Security-Policy violations."""

import re
from datetime import date, timedelta

import pytest

from channels_app.cutover.services.engine import claim_due_phases, run_cutover
from channels_app.cutover.services.rollback import rollback_run
from channels_app.models import AgentNotice, Assignment, NoticeState, PlanState, Reassignment, SunsetPlan
from channels_app.plans.services.plans import submit_plan
from channels_app.tests.support.browser import Session
from channels_app.tests.support.factories import AgentFactory, ChannelFactory, TeamFactory
from channels_app.tests.support.helpers import hard_close_plan, submit_and_approve, wait_for
from channels_app.tests.support.workforce_helpers import build_world, inbound, world_plan
from channels_app.workforce.services.moves import accept_suggestion, assign_agents, confirm_moves, send_agent_notices

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browse(browse):
    """The shared browse fixture (tests/conftest.py: sessions closed, missing files refused), with
    every session also checked for CSP violations at the end."""
    sessions: list[Session] = []

    def start(name: str) -> Session:
        session = browse(name)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.check_csp()
        assert session.violations == [], f"{session.name}: {session.violations}"


def _staff(team, count: int, **kwargs) -> list:
    agents = AgentFactory.create_batch(count, **kwargs)
    Assignment.objects.bulk_create([Assignment(agent=a, team=team, starts_on=date(2024, 1, 1)) for a in agents])
    return agents


def test_over_capacity_after_rollback_is_shown_before_any_click(browse, manager, approver, hr_coordinator):
    # Social care works X (every message of its last weeks) and the chat: retiring X affects it.
    x = ChannelFactory(kind="x", name="Lumen on X")
    forum = ChannelFactory(kind="discourse", name="Lumen forum")
    chat = ChannelFactory(kind="chat", name="Lumen chat", handle="lumen://chat")
    phone = ChannelFactory(kind="phone", name="Lumen phone", handle="+1 800 555 0100")
    inbound(x, 10)
    social = TeamFactory(name="Social care", capacity=3)
    social.channels.set([x, chat])
    phone_desk = TeamFactory(name="Phone desk", capacity=10)
    phone_desk.channels.set([phone])
    forum_care = TeamFactory(name="Forum care", capacity=5)
    forum_care.channels.set([forum])
    social_agents = _staff(social, 3)
    forum_agents = _staff(forum_care, 3)

    # Plan A retires X: Social care's three agents go to the phone desk, and the cutover runs.
    retire_x = hard_close_plan(manager=manager, channels=[x], title="Retire X")
    assign_agents(actor=hr_coordinator, plan=retire_x, agent_ids=[a.pk for a in social_agents], to_team=phone_desk)
    confirm_moves(actor=hr_coordinator, plan=retire_x)
    retire_x = submit_and_approve(retire_x, manager=manager, approver=approver)
    (run_id,) = claim_due_phases(now=retire_x.phases.get().instant + timedelta(seconds=1))
    run_cutover(run_id=run_id, worker_id="test")
    # Social care is empty and still works the chat: plan B sends the forum's agents there.
    retire_forum = hard_close_plan(manager=manager, channels=[forum], title="Retire the forum")
    assign_agents(actor=hr_coordinator, plan=retire_forum, agent_ids=[a.pk for a in forum_agents], to_team=social)
    confirm_moves(actor=hr_coordinator, plan=retire_forum)
    submit_plan(actor=manager, plan=retire_forum)
    # Plan A is rolled back: Social care's agents come home, and the seats B counted on are gone.
    wait_for(lambda: SunsetPlan.objects.get(pk=retire_x.pk).state == PlanState.COMPLETED, timeout=30)
    rollback_run(actor=manager, run=run_id, reason="The X migration failed")
    assert Assignment.objects.filter(team=social, ends_on__isnull=True).count() == 3
    over = "Social care (3 agents now + 3 confirmed arrivals for 3 seats)"

    hana = browse("hr")
    hana.login("hana")
    page = hana.goto("/")
    todo = page.locator("section[aria-labelledby=todo-h]")
    hana.shot("findings-capacity-01-hr-dashboard")
    assert "Nothing waits for you." not in todo.inner_text()
    assert re.search(r"Destination teams over capacity\s+Retire the forum\s+Social care", todo.inner_text())

    page = hana.goto(f"/plans/{retire_forum.pk}/reassignments/")
    hana.shot("findings-capacity-02-board")
    summary = page.locator("#board-summary").inner_text()
    assert "Every agent has a confirmed destination." not in summary
    assert over in page.locator("#over-capacity").inner_text()
    assert page.locator(f"#team-{social.pk}.over").count() == 1

    arjun = browse("approver")
    arjun.login("arjun")
    todo = arjun.page.locator("section[aria-labelledby=todo-h]")
    arjun.shot("findings-capacity-03-approver-needs-my-action")
    assert "Nothing waits for you." not in todo.inner_text()
    assert re.search(r"Retire the forum\s+by maya\s+Approval blocked: Social care over capacity", todo.inner_text())
    page = arjun.goto(f"/approvals/{retire_forum.pk}/")
    arjun.shot("findings-capacity-04-approval-page")
    approve = page.get_by_role("button", name="Approve and schedule")
    assert approve.is_disabled()
    blocked = page.locator("#approve-blocked").inner_text()
    assert "Social care is over capacity: 3 agents now + 3 confirmed arrivals for 3 seats (3 too many)." in blocked
    assert SunsetPlan.objects.get(pk=retire_forum.pk).state == PlanState.PENDING_APPROVAL


def test_suggestions_avoid_retired_teams_and_label_relocations(browse, manager, hr_coordinator):
    world = build_world()
    plan = world_plan(world, manager)
    # A Jakarta desk with room for every Indonesian speaker, but its only channel is being retired
    # by another plan: it is leaving too, and must never be suggested.
    chat = ChannelFactory(kind="chat", name="Brand chat", handle="brand://chat")
    leaving = TeamFactory(name="Chat Jakarta", capacity=20, languages=["id"], site="Jakarta", time_zone="Asia/Jakarta")
    leaving.channels.set([chat])
    hard_close_plan(manager=manager, channels=[chat], title="Retire the chat")
    # One seat left in Jakarta's phone desk; the Dublin web desk has two.
    world.phone_apac.capacity = 2
    world.phone_apac.save()
    world.web_desk.capacity = 4
    world.web_desk.save()
    dewi, eko = world.agents["Dewi"].pk, world.agents["Eko"].pk
    jakarta_to_dublin = "Relocation: Jakarta (Asia/Jakarta) → Dublin (Europe/Dublin)"

    hana = browse("hr")
    hana.login("hana")
    page = hana.goto(f"/plans/{plan.pk}/reassignments/?suggest=1")
    hana.shot("findings-suggest-01-suggested-plan")
    assert "Chat Jakarta" not in page.locator("main").inner_text()
    dewi_cell, eko_cell = page.locator(f"#agent-{dewi} td.suggested"), page.locator(f"#agent-{eko} td.suggested")
    # Dewi's skill fits the Jakarta desk: she stays; Eko has to relocate, and the board says so.
    assert dewi_cell.locator("strong").inner_text() == "Phone APAC"
    assert "Relocation" not in dewi_cell.inner_text()
    assert eko_cell.locator("strong").inner_text() == "Web desk"
    assert eko_cell.locator(".tag.relocation").inner_text() == jakarta_to_dublin
    for name in ("Amélie", "Bruno", "Chen"):  # Paris stays in Paris
        cell = page.locator(f"#agent-{world.agents[name].pk} td.suggested")
        assert cell.locator("strong").inner_text() == "Phone EMEA" and "Relocation" not in cell.inner_text()

    page.get_by_role("button", name="Accept the suggested plan for everyone waiting").click()
    page.get_by_text("5 suggested destinations accepted as proposed moves.").wait_for()
    hana.shot("findings-suggest-02-accepted")
    assert page.locator(f"#agent-{eko} td.destination .tag.relocation").inner_text() == jakarta_to_dublin
    assert page.locator(f"#agent-{dewi} td.destination .tag.relocation").count() == 0
    assert dict(Reassignment.objects.filter(plan=plan).values_list("agent_id", "to_team__name")) == {
        world.agents["Amélie"].pk: "Phone EMEA",
        world.agents["Bruno"].pk: "Phone EMEA",
        world.agents["Chen"].pk: "Phone EMEA",
        dewi: "Phone APAC",
        eko: "Web desk",
    }


def test_agent_emails_need_approval_and_a_confirmation_and_speak_the_agents_language(
    browse, manager, approver, hr_coordinator, smtp_settings
):
    world = build_world()
    plan = world_plan(world, manager)
    accept_suggestion(actor=hr_coordinator, plan=plan)
    confirm_moves(actor=hr_coordinator, plan=plan)
    board = f"/plans/{plan.pk}/reassignments/"

    hana = browse("hr")
    hana.login("hana")
    page = hana.goto(board)
    email_all = page.get_by_role("button", name="Email every agent with a confirmed move")
    assert email_all.is_disabled() and page.get_by_role("button", name="Email selected").is_disabled()
    reason = "Agents can be emailed their new team once the plan is approved; “Retire social support” is draft."
    assert page.locator("#emails-blocked").inner_text() == reason
    hana.shot("findings-emails-01-before-approval")

    plan = submit_and_approve(plan, manager=manager, approver=approver)
    page = hana.goto(board)
    assert page.locator("#emails-blocked").count() == 0
    page.get_by_role("button", name="Email every agent with a confirmed move").click()
    page.locator("#notify-confirm").wait_for()
    assert page.locator("#notify-confirm h2").inner_text() == "Email 5 agents their new team?"
    hana.shot("findings-emails-02-confirmation")
    assert not AgentNotice.objects.exists()  # asking sends nothing
    page.get_by_role("button", name="Send 5 emails").click()
    page.get_by_text("5 emails queued.").wait_for()
    hana.shot("findings-emails-03-queued")

    assert send_agent_notices() == 5  # what the worker runs (tests/workforce/test_worker.py runs it in one)
    mail = {m.message["To"]: m.message for m in smtp_settings.messages}
    assert len(smtp_settings.messages) == 5 and set(AgentNotice.objects.values_list("state", flat=True)) == {
        NoticeState.SENT
    }
    bodies = {name: mail[world.agents[name].email].get_content() for name in world.agents}
    assert bodies["Amélie"].startswith("Bonjour Amélie,") and "seront fermés le" in bodies["Amélie"]
    assert bodies["Bruno"].startswith("Bonjour Bruno,")  # speaks fr and en: French first
    assert bodies["Chen"].startswith("Hello Chen,") and "will retire on" in bodies["Chen"]
    assert bodies["Dewi"].startswith("Halo Dewi,") and "akan ditutup pada" in bodies["Dewi"]
    assert bodies["Eko"].startswith("Halo Eko,")
    # Asking again: everyone was told about this move; nothing is sent twice.
    page = hana.goto(board)
    page.get_by_role("button", name="Email every agent with a confirmed move").click()
    page.get_by_text("No agent is waiting for an email.").wait_for()
    hana.shot("findings-emails-04-nothing-left")
    assert send_agent_notices() == 0 and len(smtp_settings.messages) == 5
