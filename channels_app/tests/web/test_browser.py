"""The whole story in a real browser, as new users would walk it: a manager
drafts a sunset with the wizard (keyboard only); an HR coordinator gives every
affected agent a destination (three by bulk action, one by CSV import); the
manager submits; an approver approves; a real worker runs the cutover while
the run page shows progress.
Screenshots of every page go to artifacts/screenshots/ (see README)."""

import re
from datetime import UTC, date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from channels_app.core import textrules
from channels_app.models import (
    Agent,
    Assignment,
    Conversation,
    CutoverRun,
    PlanState,
    Reassignment,
    RunState,
    SunsetPlan,
)
from channels_app.plans.services.drafts import finish_plan_draft, open_plan_draft, save_plan_draft
from channels_app.plans.services.plans import reject_plan, submit_plan
from channels_app.tests.support.factories import (
    AgentFactory,
    AssignmentFactory,
    ChannelFactory,
    TeamFactory,
    UserProfileFactory,
)
from channels_app.tests.support.helpers import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PARIS = ZoneInfo("Europe/Paris")
REPLY = "Hi {customer_name}, our support on X has moved: call {phone} or visit {redirect_url} (ref {reference}). 🙏"


def _world(n_conversations: int = 600):
    x = ChannelFactory(kind="x", name="Lumen on X", handle="@LumenSupport")
    forum = ChannelFactory(kind="discourse", name="Lumen forum", handle="https://community.lumen.example")
    ChannelFactory(kind="phone", name="Lumen phone", handle="+1 800 555 0100")
    social = TeamFactory(name="Social care Dublin", capacity=10)
    social.channels.set([x])  # all of its work retires with X: every agent needs a destination
    TeamFactory(name="Phone EMEA", capacity=40)
    agents = AgentFactory.create_batch(4, site="Dublin")
    Assignment.objects.bulk_create([Assignment(agent=a, team=social, starts_on=date(2024, 1, 1)) for a in agents])
    now = timezone.now()
    Conversation.objects.bulk_create(
        [
            Conversation(
                channel=x,
                platform_thread_id=f"t{i}",
                customer_id=f"c{i % 500}",
                customer_handle=f"@c{i}",
                opened_at=now,
                last_message_at=now,
                reference=f"DSK-B{i:07d}",
            )
            for i in range(n_conversations)
        ]
    )
    return x, forum


def test_manager_drafts_approver_approves_and_the_run_page_follows_the_worker(
    browse,
    manager,
    approver,
    hr_coordinator,
    smtp_settings,
    celery_workers,
    caplog,
    tmp_path,
):
    x, _forum = _world()
    # Maya works from Los Angeles: she sees instants in her zone, with UTC beside them.
    UserProfileFactory(user=manager, time_zone="America/Los_Angeles")
    # Slow chunks so the run page is seen mid-way, not only at the end.
    worker = celery_workers("w1", DUSK_CHUNK_SIZE="100", DUSK_CHUNK_PAUSE="0.4")

    # --- the manager drafts the sunset with the keyboard ---------------------------------
    maya = browse("manager")
    maya.login("maya")
    page = maya.page
    maya.shot("01-dashboard-empty")
    page.get_by_role("link", name="New sunset").first.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/plans/new/"))

    page.get_by_label("Title").focus()
    page.keyboard.type("Retire support on X")
    page.get_by_role("checkbox", name=re.compile(r"Lumen on X")).focus()
    page.keyboard.press("Space")
    assert page.get_by_role("checkbox", name=re.compile(r"Lumen on X")).is_checked()
    page.get_by_text(re.compile(r"Draft saved at")).wait_for()  # autosaved while typing
    maya.shot("02-wizard-channels")
    page.get_by_label("Title").press("Enter")
    page.wait_for_url(re.compile(r"step=phases"))

    # The hard close a little ahead, written in Paris time (with seconds so the test stays short;
    # enough lead for HR, the submission and the approval to happen first).
    at = (timezone.now() + timedelta(seconds=100)).astimezone(PARIS).replace(microsecond=0)
    page.get_by_label("Phase", exact=True).select_option("hard_close")
    page.get_by_label("Date").fill(at.strftime("%Y-%m-%d"))
    page.get_by_label("Time", exact=True).fill(at.strftime("%H:%M:%S"))
    zone = page.get_by_label("Time zone")
    zone.fill("Europe/Paris")
    zone.press("Tab")
    utc_text = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    page.locator("#instant-0").get_by_text(f"({utc_text} UTC)").wait_for()
    maya.shot("03-wizard-phases")
    zone.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"step=redirects"))

    page.get_by_label("Label").first.fill("Phone support")
    page.get_by_label("Number or address").first.fill("+1 800 555 0100")
    page.get_by_label("Label").nth(1).fill("Contact form")
    page.get_by_label("Number or address").nth(1).fill("https://help.lumen.example/contact")
    page.get_by_label("Expected share (%)").first.fill("70")
    page.get_by_label("Expected share (%)").nth(1).fill("30")  # shares, when given, total 100%
    maya.shot("04-wizard-redirects")
    page.get_by_label("Expected share (%)").first.press("Enter")
    page.wait_for_url(re.compile(r"step=replies"))

    text_box = page.get_by_label("Reply text")
    text_box.focus()
    page.keyboard.type(REPLY)
    expected = textrules.length_for("x", textrules.render(REPLY, textrules.WORST_CASE_SAMPLES))
    counter = page.locator("#preview-0 .pv-x .counter")
    counter.filter(has_text=f"{expected} / 280").wait_for()
    assert "weighted" in counter.inner_text()
    assert "+1 800 555 0100" in page.locator("#preview-0 .pv-x .pv-text").inner_text()
    maya.shot("05-wizard-replies")
    page.get_by_role("button", name="Save draft and see the impact").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/plans/\d+/$"))

    plan = SunsetPlan.objects.get(title="Retire support on X")
    assert plan.state == PlanState.DRAFT
    assert plan.phases.get().instant == at
    impact = page.locator("dl.impact")
    assert re.search(r"Conversations to move\s*600", impact.inner_text())
    assert re.search(r"Agents without a destination\s*4", impact.inner_text())
    maya.shot("06-plan-impact")

    # --- HR: every agent gets a destination (the guard refuses submission before) ---------------
    hana = browse("hr")
    hana.login("hana")
    hana.goto(f"/plans/{plan.pk}/reassignments/")
    board = hana.page
    assert board.locator("#without-count").inner_text().startswith("4 ")
    hana.shot("06a-reassignment-board")
    agents = list(Agent.objects.filter(assignments__team__name="Social care Dublin").order_by("name"))
    # Three by bulk action...
    for agent in agents[:3]:
        board.get_by_label(f"Select {agent.name}").check()
    board.get_by_label("Destination team", exact=True).fill("Phone EMEA")
    board.get_by_label("Confirm at once").check()
    board.get_by_role("button", name="Assign selected").click()
    board.locator("#without-count").filter(has_text=re.compile(r"^1 ")).wait_for()
    # ...and the last one by CSV import.
    csv_file = tmp_path / "moves.csv"
    csv_file.write_text(f"employee_id,destination_team,status\n{agents[3].employee_id},Phone EMEA,confirmed\n")
    board.get_by_text("Import a reassignment CSV").click()
    board.get_by_label("Reassignment CSV").set_input_files(str(csv_file))
    board.get_by_role("button", name="Import", exact=True).click()
    board.locator("#without-count").filter(has_text=re.compile(r"^0 ")).wait_for()
    hana.shot("06b-reassignment-board-done")
    assert sorted(
        Reassignment.objects.filter(plan=plan, state="confirmed").values_list("agent_id", flat=True)
    ) == sorted(a.pk for a in agents)

    maya.goto(f"/plans/{plan.pk}/")
    page = maya.page
    page.get_by_role("button", name="Submit for approval").focus()
    page.keyboard.press("Enter")
    page.get_by_text("Submitted for approval").wait_for()

    # --- the approver reviews and approves ------------------------------------------------------
    arjun = browse("approver")
    arjun.login("arjun")
    arjun.shot("07-dashboard-approver")
    arjun.goto("/approvals/")
    arjun.shot("08-approvals")
    arjun.page.get_by_role("link", name="Retire support on X").click()
    arjun.page.get_by_text("First review").wait_for()
    arjun.shot("09-approval-review")
    arjun.page.get_by_label("Comment (optional)").fill("Numbers look right.")
    arjun.page.get_by_role("button", name="Approve and schedule").click()
    arjun.page.get_by_text("Approved: the plan is scheduled").wait_for()
    plan.refresh_from_db()
    assert plan.state == PlanState.SCHEDULED and plan.approved_by == approver

    # --- the worker runs the cutover; the run page follows it -----------------------------------
    worker.wait_ready()
    until_instant = max(0.0, (plan.phases.get().instant - timezone.now()).total_seconds())
    run = wait_for(
        lambda: CutoverRun.objects.filter(plan=plan).first(),
        timeout=until_instant + 60,
        message=f"the sweep to claim the phase\n{worker.log()[-3000:]}",
    )
    maya.goto(f"/runs/{run.pk}/")
    maya.page.locator('li[data-step="conversations"]:is(.step-running, .step-done)').wait_for(timeout=60000)
    maya.shot("10-run-in-progress")
    maya.page.locator("#progress .summary").get_by_text("Done", exact=True).wait_for(timeout=90000)
    maya.shot("11-run-completed")
    run.refresh_from_db()
    # This walk-through's X channel reaches no platform: its 600 hand-off notices fail, and the
    # run says so instead of "Completed" (test_delivery covers the delivered case).
    assert run.state == RunState.COMPLETED_WITH_FAILURES
    assert "were not delivered" in maya.page.locator("#progress").inner_text()
    summary = maya.page.locator("#progress .summary").inner_text()
    assert re.search(r"Conversations moved\s*600", summary)
    assert maya.page.locator('li[data-step="conversations"] .step-count').inner_text() == "600 / 600"
    assert re.search(r"Agents reassigned\s*4", summary)
    assert Assignment.objects.filter(team__name="Phone EMEA", ends_on__isnull=True).count() == 4

    maya.goto(f"/audit/?object=sunsetplan:{plan.pk}")
    # The plan's history includes its runs' events, newest first: the plan's creation is last.
    maya.page.locator("details summary").last.click()  # before/after load when opened
    maya.page.locator("details .beforeafter pre").last.wait_for()
    assert "Retire support on X" in maya.page.locator("details .beforeafter").last.inner_text()
    maya.shot("12-audit-log")
    maya.goto("/")
    maya.shot("13-dashboard-after")
    maya.goto("/channels/")
    maya.shot("14-channels")
    maya.goto(f"/channels/{x.pk}/")
    maya.shot("15-channel-detail")

    for session in (maya, hana, arjun):
        session.check_csp()
        assert session.violations == [], f"{session.name}: {session.violations}"
    assert "CSP violation reported" not in caplog.text


def test_demo_pages_read_well_for_each_role_in_english_and_french(browse, caplog):
    from datetime import date as date_cls

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    pass

    call_command("seed_demo", conversations=200, stdout=open("/dev/null", "w"))  # noqa: SIM115
    users = {u.username: u for u in get_user_model().objects.all()}
    social = SunsetPlan.objects.get(title__startswith="Retire social support")
    # The approver sends the social plan back; the manager moves the hard close a week and resubmits.
    reject_plan(actor=users["arjun"], plan=social, comment="Give customers one more week.")
    social.refresh_from_db()
    draft = open_plan_draft(actor=users["maya"], plan=social)
    phases = [dict(p) for p in draft.data["phases"]]
    for p in phases:
        if p["kind"] == "hard_close":
            p["local_date"] = (date_cls.fromisoformat(p["local_date"]) + timedelta(days=7)).isoformat()
    save_plan_draft(actor=users["maya"], draft=draft, data={"phases": phases})
    finish_plan_draft(actor=users["maya"], draft=draft)
    submit_plan(actor=users["maya"], plan=social)
    # A late hire joins social care after the plan was submitted: HR's dashboard asks for a destination.
    from channels_app.models import Team

    late = AgentFactory(employee_id="LUM-99999", name="Late Hire", site="Dublin")
    AssignmentFactory(agent=late, team=Team.objects.get(name="Social Care Dublin"), starts_on=date_cls.today())

    arjun = browse("approver-demo")
    arjun.login("arjun", "dusk-demo-2026")
    arjun.page.locator("svg.timeline").wait_for()
    assert arjun.page.locator("svg.timeline circle.mark").count() >= 5
    arjun.shot("20-demo-dashboard-approver")
    arjun.page.get_by_role("link", name=re.compile("Retire social support")).first.click()
    arjun.page.get_by_role("heading", name="Changes since the last review").wait_for()
    changes = arjun.page.locator("table.diff").inner_text()
    assert "Hard close" in changes and "hard_close" not in changes  # the phase by its name, not its key
    arjun.shot("21-demo-approval-diff")
    # Sending back without a comment is refused next to the field.
    arjun.page.get_by_role("button", name="Send back to the author").click()
    arjun.page.get_by_text("Say what must change").wait_for()
    assert arjun.page.get_by_label("What must change").get_attribute("aria-invalid") == "true"

    hana = browse("hr-demo")
    hana.login("hana", "dusk-demo-2026")
    hana.page.get_by_role("heading", name="Agents without a destination").wait_for()
    hana.shot("22-demo-dashboard-hr")
    hana.page.get_by_label("Language").select_option("fr")
    hana.page.get_by_role("button", name="Change").click()
    hana.page.get_by_role("link", name="Tableau de bord").wait_for()
    # SVG coordinates stay machine-readable whatever the language's decimal separator.
    assert "," not in hana.page.locator("svg.timeline circle.mark").first.get_attribute("cx")
    hana.shot("23-demo-dashboard-fr")
    hana.goto("/channels/")
    hana.page.get_by_role("heading", name="Canaux").wait_for()
    hana.shot("24-demo-channels-fr")
    hana.page.get_by_label("Langue").select_option("id")
    hana.page.get_by_role("button", name="Changer").click()
    hana.page.get_by_role("heading", name="Kanal").wait_for()
    hana.shot("25-demo-channels-id")

    vic = browse("viewer-demo")
    vic.login("vic", "dusk-demo-2026")
    assert vic.page.get_by_role("link", name="New sunset").count() == 0
    vic.goto("/plans/new/")
    vic.page.get_by_text("Your role does not allow").wait_for()
    vic.shot("26-viewer-refused")

    admin = browse("admin-demo")
    admin.login("admin", "dusk-demo-2026")
    admin.goto(f"/admin/channels_app/sunsetplan/{social.pk}/change/")
    admin.page.get_by_role("heading", name="Change sunset plan").wait_for()
    admin.shot("27-admin-plan")

    for session in (arjun, hana, vic, admin):
        session.check_csp()
        assert session.violations == [], f"{session.name}: {session.violations}"
    assert "CSP violation reported" not in caplog.text
