"""Findings of a new user's walk through Dusk, each proved fixed in Chromium, as the people
involved walk the pages, with real workers, the real SMTP fake and the fake X where the finding
depends on them. Then an outsider's attempts on the same URLs: each a clean 4xx, nothing changed.
Screenshots go to artifacts/screenshots/ (findings-*)."""

import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.utils import timezone

from channels_app.audit.services import verify_chain
from channels_app.cutover.services.engine import (
    CHANNEL_STATES_IN_ORDER,
    claim_due_phases,
    run_cutover,
    settle_delivery,
)
from channels_app.models import (
    AuditEvent,
    Channel,
    ChannelState,
    Conversation,
    CutoverRun,
    Message,
    Phase,
    PlanState,
    RunState,
    UserProfile,
)
from channels_app.plans.services.plans import AutoReplyInput
from channels_app.tests.support.browser import PASSWORD
from channels_app.tests.support.factories import ChannelFactory
from channels_app.tests.support.fakeplatforms import FakeX, serve
from channels_app.tests.support.helpers import hard_close_plan, submit_and_approve, utc_phase, wait_for
from channels_app.tests.support.inbound_helpers import platform_channel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

README = Path(__file__).resolve().parents[3] / "README.md"
NOTICE = "Until {date} we are happy to help here; then call {phone}."
SOFT = "We no longer open new cases here: call {phone}."
HARD = "Support moved for good: call {phone} or visit {redirect_url} (ref {reference})."
FAST = {"DUSK_OUTBOX_SWEEP_INTERVAL": "0.5", "DUSK_NOTIFY_INTERVAL": "0.5"}


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    yield from serve(FakeX())


@pytest.fixture
def french_approver(django_user_model):
    """Ana approves plans too, and reads Dusk and her email in French."""
    user = django_user_model.objects.create_user(username="ana", email="ana@example.com", password=PASSWORD)
    user.groups.add(Group.objects.get(name="approver"))
    UserProfile.objects.create(user=user, language="fr")
    return user


def _customers(channel, conversations_per_customer: list[int], prefix: str, refs: str = "") -> dict[str, list[str]]:
    """Open conversations on an X channel, each with the tweet a hand-off notice answers;
    returns each customer's references (`refs` tells them apart on a second channel)."""
    now = timezone.now()
    references: dict[str, list[str]] = {}
    n = 0
    for c, count in enumerate(conversations_per_customer):
        customer = f"{prefix}{c}"
        for _ in range(count):
            conversation = Conversation.objects.create(
                channel=channel,
                platform_thread_id=f"{prefix}{refs}-t{n}",
                customer_id=customer,
                customer_handle=f"@{customer}",
                opened_at=now,
                last_message_at=now,
                reference=f"DSK-{prefix.upper()}{refs.upper()}{n:05d}",
            )
            Message.objects.create(
                channel=channel,
                conversation=conversation,
                platform_message_id=str(1_710_000_000_000_000_000 + channel.pk * 1000 + n),
                direction="in",
                author_id=customer,
                text="@brand where is my order?",
                lang="en",
                created_at=now,
            )
            references.setdefault(customer, []).append(conversation.reference)
            n += 1
    return references


def _due_now(plan, *kinds: str) -> None:
    """The workers were down while these phases fell due, a second apart, in order."""
    now = timezone.now().replace(microsecond=0)
    for offset, kind in enumerate(kinds):
        at = now - timedelta(seconds=len(kinds) - offset)  # the phases are written in UTC
        Phase.objects.filter(plan=plan, kind=kind).update(instant=at, local_date=at.date(), local_time=at.time())


def _backwards_moves(channel_ids: set[int]) -> list[str]:
    """Channel-state changes in the audit trail, in order, that move a channel back."""
    rank = {state: i for i, state in enumerate(CHANNEL_STATES_IN_ORDER)}
    last: dict[int, str] = {}
    found = []
    for event in AuditEvent.objects.filter(action="channels.state_changed").order_by("id"):
        state = event.after["state"]
        for channel_id in set(event.after["channels"]) & channel_ids:
            if channel_id in last and rank[state] < rank[last[channel_id]]:
                found.append(f"channel {channel_id}: {last[channel_id]} -> {state} (event {event.pk})")
            last[channel_id] = state
    return found


def _no_csp_violations(*sessions) -> None:
    for session in sessions:
        session.check_csp()
        assert session.violations == [], f"{session.name}: {session.violations}"


def _refused(session, path: str, status: int, shot: str) -> str:
    """Open a URL that must be refused: the status, the page that says so (screenshotted), and
    its text. The browser logs the 4xx in the console: that one is expected, not a missing file."""
    response = session.page.goto(session.base_url + path)
    assert response.status == status, (path, response.status)
    heading = {403: "Not allowed", 404: "Not found", 405: "Not allowed"}.get(status)
    if heading:
        session.page.get_by_role("heading", name=heading).wait_for()
    session.shot(shot)
    # The 4xx itself; after a one-line text page the browser also asks for /favicon.ico (404).
    session.console_errors[:] = [
        e for e in session.console_errors if f"status of {status}" not in e and "status of 404" not in e
    ]
    # A 400 for a character the portal refuses is answered in one line of text (web/middleware.py).
    return session.page.locator("main" if heading else "body").inner_text()


def _subjects(smtp, person) -> list[str]:
    return [str(m.message["Subject"]).strip() for m in smtp.messages if m.message["To"] == person.email]


# --- 1 ------------------------------------------------------------------------------------------


def test_phases_due_together_run_in_order_and_the_plan_page_says_so(
    browse, manager, approver, smtp_settings, platform_secrets, fake_x, celery_workers, caplog
):
    channels = [
        platform_channel("x", fake_x.base_url, name=f"Brand on X {k}", platform_account_id="783214") for k in (1, 2)
    ]
    for k, channel in enumerate(channels):
        _customers(channel, [1, 2], prefix=f"p{k}")
    later = timezone.now() + timedelta(days=3)
    plan = hard_close_plan(
        manager=manager,
        channels=channels,
        title="Retire X in three steps",
        phases=[
            utc_phase("notice", later),
            utc_phase("soft_close", later + timedelta(days=1)),
            utc_phase("hard_close", later + timedelta(days=2)),
        ],
        auto_replies=[
            AutoReplyInput("notice", "en", NOTICE),
            AutoReplyInput("soft_close", "en", SOFT),
            AutoReplyInput("hard_close", "en", HARD),
        ],
    )
    submit_and_approve(plan, manager=manager, approver=approver)
    _due_now(plan, "notice", "soft_close", "hard_close")

    worker = celery_workers("w1", **FAST)
    worker.wait_ready()
    hard = wait_for(
        lambda: CutoverRun.objects.filter(
            plan=plan, phase__kind="hard_close", state__in=[RunState.COMPLETED, RunState.COMPLETED_WITH_FAILURES]
        ).first(),
        timeout=120,
        message=f"the hard close to finish\n{worker.log()[-3000:]}",
    )
    assert hard.state == RunState.COMPLETED, hard.errors
    plan.refresh_from_db()
    assert plan.state == PlanState.COMPLETED
    skipped = {run.phase.kind: run for run in CutoverRun.objects.filter(plan=plan, state=RunState.SKIPPED)}
    assert set(skipped) == {"notice", "soft_close"}
    assert all(run.superseded_by_id == hard.phase_id for run in skipped.values())
    assert _backwards_moves({c.pk for c in channels}) == []
    assert all(c.state == ChannelState.RETIRED for c in Channel.objects.filter(pk__in=[c.pk for c in channels]))

    maya = browse("findings-manager-1")
    maya.login("maya")
    maya.goto(f"/plans/{plan.pk}/")
    page = maya.page
    runs = page.locator("section[aria-labelledby=runs-h]")
    for kind in ("Notice", "Soft close"):
        row = runs.locator("li").filter(has_text=re.compile(rf"^{kind} ·"))
        assert re.search(r"Skipped\s+superseded by the Hard close phase", row.inner_text()), row.inner_text()
    hard_row = runs.locator("li").filter(has_text=re.compile(r"^Hard close ·"))
    assert "Completed" in hard_row.inner_text() and "superseded" not in hard_row.inner_text()
    phases = page.locator("section[aria-labelledby=phases-h] table tbody")
    assert [r.inner_text().split("\t")[-1].strip() for r in phases.locator("tr").all()] == [
        "Skipped (superseded)",
        "Skipped (superseded)",
        "Completed",
    ]
    for channel in channels:
        assert "Retired" in page.locator("li").filter(has_text=channel.name).first.inner_text()
    # The impact says what the runs did, and never shows a channel going back.
    impact = page.locator("section[aria-labelledby=impact-h]").inner_text()
    assert re.search(r"Conversations moved\s*6", impact) and re.search(r"Hand-off notices written\s*4", impact)
    assert "→" not in impact, impact  # what will change is not shown once the plan has run
    maya.shot("findings-1-plan-superseded")

    runs.get_by_role("link", name=re.compile(r"^Notice ·")).click()
    page.get_by_text("Skipped: superseded by the Hard close phase, which was already due.").wait_for()
    maya.shot("findings-1-run-notice-skipped")

    maya.goto(f"/plans/{plan.pk}/")
    page.get_by_role("link", name="History").click()
    page.wait_for_url(re.compile(rf"/plans/{plan.pk}/history/$"))
    actions = [a.inner_text() for a in page.locator("ol.events code.action").all()]
    assert actions.count("phase.superseded") == 2, actions
    # The trail shows the channels moving once, forward, to retired; the chain is intact.
    assert "channels.state_changed" in actions
    maya.shot("findings-1-history")
    assert verify_chain() == []

    _no_csp_violations(maya)
    assert "CSP violation reported" not in caplog.text


# --- 2 ------------------------------------------------------------------------------------------


def test_a_customer_with_several_conversations_gets_one_handoff_listing_their_references(
    browse, manager, approver, viewer, smtp_settings, platform_secrets, fake_x, celery_workers, caplog
):
    x = platform_channel("x", fake_x.base_url, name="Brand on X", platform_account_id="783214")
    dms = platform_channel("x", fake_x.base_url, name="Brand care on X", platform_account_id="783214")
    references = {
        x.pk: _customers(x, [3, 1, 2], prefix="h"),  # 6 conversations, 3 customers
        dms.pk: _customers(dms, [2], prefix="h", refs="b"),  # customer h0 again, on another channel
    }
    plan = hard_close_plan(
        manager=manager, channels=[x, dms], title="Retire X", auto_replies=[AutoReplyInput("hard_close", "en", HARD)]
    )
    submit_and_approve(plan, manager=manager, approver=approver)

    maya = browse("findings-manager-2")
    maya.login("maya")
    maya.goto(f"/plans/{plan.pk}/")
    impact = maya.page.locator("dl.impact").first.inner_text()
    assert re.search(r"Conversations to move\s*8", impact) and re.search(r"Customers to notify\s*4", impact)
    maya.shot("findings-2-plan-before")

    _due_now(plan, "hard_close")
    worker = celery_workers("w1", **FAST)
    worker.wait_ready()
    run = wait_for(
        lambda: CutoverRun.objects.filter(plan=plan, state=RunState.COMPLETED).first(),
        timeout=120,
        message=f"the hard close to complete\n{worker.log()[-3000:]}",
    )

    # On X: exactly one hand-off per customer and channel, listing each of their references there.
    asked = {
        pid: (channel_id, author)
        for pid, channel_id, author in Message.objects.filter(channel__in=[x, dms]).values_list(
            "platform_message_id", "channel_id", "author_id"
        )
    }
    per_customer = Counter(asked[t["in_reply_to"]] for t in fake_x.tweets)
    assert per_customer == {(ch, customer): 1 for ch, customers in references.items() for customer in customers}
    for tweet in fake_x.tweets:
        channel_id, customer = asked[tweet["in_reply_to"]]
        listed = re.search(r"\(ref ([^)]*)\)", tweet["text"]).group(1).split(", ")
        assert sorted(listed) == sorted(references[channel_id][customer]), tweet["text"]

    maya.goto(f"/runs/{run.pk}/")
    progress = maya.page.locator("#progress")
    progress.locator(".summary").get_by_text("Done").wait_for()
    summary = progress.locator(".summary").inner_text()
    assert re.search(r"Conversations moved\s*8", summary)
    assert re.search(r"Hand-off notices written\s*4", summary)
    assert re.search(r"Hand-off notices delivered\s*4", summary)
    # Sent: the four hand-offs and the two owners' emails.
    assert progress.locator('[data-count="sent"]').inner_text() == "6"
    assert progress.locator('[data-count="failed"]').inner_text() == "0"
    maya.shot("findings-2-run-one-notice-per-customer")
    maya.goto(f"/plans/{plan.pk}/")
    assert maya.page.locator('[data-count="handoffs-sent"]').inner_text() == "4"
    assert maya.page.locator('[data-count="conversations-moved"]').inner_text() == "8"
    assert maya.page.locator('[data-count="handoffs-written"]').inner_text() == "4"
    maya.shot("findings-2-plan-after")

    _no_csp_violations(maya)
    assert "CSP violation reported" not in caplog.text


# --- 3 ------------------------------------------------------------------------------------------


def _two_phase_plan(manager, approver, channels, title: str = "Retire the forum", days: int = 3):
    later = timezone.now() + timedelta(days=days)
    plan = hard_close_plan(
        manager=manager,
        channels=channels,
        title=title,
        phases=[utc_phase("notice", later), utc_phase("hard_close", later + timedelta(days=2))],
        auto_replies=[AutoReplyInput("notice", "en", NOTICE), AutoReplyInput("hard_close", "en", HARD)],
    )
    return submit_and_approve(plan, manager=manager, approver=approver)


def _run_in_order(plan) -> list[int]:
    """What beat and a worker do once both phases are due, one after the other, here."""
    run_ids = []
    for kind in ("notice", "hard_close"):
        (run_id,) = claim_due_phases(now=plan.phases.get(kind=kind).instant + timedelta(seconds=1))
        run_cutover(run_id=run_id, worker_id="test")
        settle_delivery(run_id=run_id)
        run_ids.append(run_id)
    return run_ids


def test_dry_run_and_rollback_are_linked_and_the_dry_run_url_takes_a_phase_kind(
    browse, manager, approver, viewer, caplog
):
    forum = ChannelFactory(kind="discourse", name="Brand forum")
    plan = _two_phase_plan(manager, approver, [forum])
    notice, hard = plan.phases.get(kind="notice"), plan.phases.get(kind="hard_close")

    maya = browse("findings-manager-3")
    maya.login("maya")
    maya.goto(f"/plans/{plan.pk}/")
    page = maya.page
    links = page.locator("section[aria-labelledby=phases-h]").get_by_role("link", name="Dry run")
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [
        f"/plans/{plan.pk}/phases/{notice.pk}/dry-run/",
        f"/plans/{plan.pk}/phases/{hard.pk}/dry-run/",
    ]
    maya.shot("findings-3-plan-dry-run-links")
    # Each link names its phase for a screen reader.
    assert [links.nth(i).text_content() for i in range(links.count())] == ["Dry run · Notice", "Dry run · Hard close"]
    page.get_by_role("link", name="Dry run · Hard close").click()
    page.get_by_role("heading", name="Dry run: Hard close").wait_for()
    by_id = page.locator("main").inner_text()
    maya.shot("findings-3-dry-run-by-id")
    # The same report with the phase named by its kind.
    maya.goto(f"/plans/{plan.pk}/phases/hard_close/dry-run/")
    page.get_by_role("heading", name="Dry run: Hard close").wait_for()
    assert page.locator("main").inner_text() == by_id
    maya.shot("findings-3-dry-run-by-kind")
    maya.goto(f"/plans/{plan.pk}/phases/notice/dry-run/")
    page.get_by_role("heading", name="Dry run: Notice").wait_for()
    # An unknown kind is a clear 404 page.
    text = _refused(maya, f"/plans/{plan.pk}/phases/sunrise/dry-run/", 404, "findings-3-dry-run-unknown-kind")
    assert "No such phase kind: a phase is a notice, a soft close, a hard close or an archive." in text
    readme = README.read_text()
    assert "/plans/2/phases/hard_close/dry-run/" in readme and "id or its kind" in readme

    notice_run, hard_run = _run_in_order(plan)
    # The run page links to the rollback page for managers, not for viewers.
    maya.goto(f"/runs/{hard_run}/")
    page.get_by_role("link", name="Roll back this phase…").click()
    page.get_by_role("heading", name="Roll back: Hard close").wait_for()
    maya.shot("findings-3-rollback-page")
    page.get_by_label("Why roll back? (recorded in the audit trail)").fill("The phone line is not ready.")
    page.get_by_role("button", name="Roll back this phase").click()
    page.get_by_text("The phase was rolled back; the audit trail records it.").wait_for()
    maya.shot("findings-3-rolled-back")
    assert CutoverRun.objects.get(pk=hard_run).rolled_back_at is not None
    forum.refresh_from_db()
    assert forum.state == ChannelState.NOTICE  # as the hard close found it

    vic = browse("findings-viewer-3")
    vic.login("vic")
    vic.goto(f"/runs/{notice_run}/")
    assert vic.page.get_by_role("link", name="Roll back this phase…").count() == 0
    vic.shot("findings-3-run-viewer-no-rollback")

    _no_csp_violations(maya, vic)
    assert "CSP violation reported" not in caplog.text


# --- 4 ------------------------------------------------------------------------------------------


def test_people_are_told_when_a_plan_is_submitted_sent_back_approved_and_run(
    browse, manager, approver, french_approver, smtp_settings, platform_secrets, fake_x, celery_workers, caplog
):
    worker = celery_workers("w1", **FAST)
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory(kind="x", name="Brand on X")], title="Retire X")
    worker.wait_ready()

    # Maya submits; Arjun sends it back; Maya submits again; Ana (in French) approves.
    maya = browse("findings-manager-4")
    maya.login("maya")
    maya.goto(f"/plans/{plan.pk}/")
    maya.page.get_by_role("button", name="Submit for approval").click()
    maya.page.get_by_text("Submitted for approval").first.wait_for()
    arjun = browse("findings-approver-4")
    arjun.login("arjun")
    arjun.goto(f"/approvals/{plan.pk}/")
    arjun.page.get_by_label("What must change").fill("Name the phone line in the reply.")
    arjun.page.get_by_role("button", name="Send back to the author").click()
    arjun.page.get_by_text("Sent back to the author with your comment.").wait_for()
    arjun.shot("findings-4-sent-back")
    maya.goto(f"/plans/{plan.pk}/")
    maya.page.get_by_text("Name the phone line in the reply.").wait_for()
    maya.shot("findings-4-plan-sent-back")
    maya.page.get_by_role("button", name="Submit for approval").click()
    maya.page.get_by_text("Submitted for approval").first.wait_for()
    ana = browse("findings-french-approver-4")
    ana.login("ana")
    ana.page.get_by_label("Language").select_option("fr")
    ana.page.get_by_role("button", name="Change").click()
    ana.page.get_by_role("link", name="Tableau de bord").wait_for()
    ana.goto(f"/approvals/{plan.pk}/")
    ana.page.get_by_role("button", name="Approuver et planifier").click()
    ana.page.locator(".messages, [role=status]").first.wait_for()
    ana.shot("findings-4-approved-in-french")
    plan.refresh_from_db()
    assert plan.state == PlanState.SCHEDULED and plan.approved_by == french_approver
    ana.goto(f"/plans/{plan.pk}/")
    ana.page.get_by_text("Planifié").first.wait_for()
    ana.shot("findings-4-plan-scheduled-french")

    # The freeze step re-checks the approver's role when the phase runs: Ana lost it, the run fails.
    french_approver.groups.remove(Group.objects.get(name="approver"))
    _due_now(plan, "hard_close")
    run = wait_for(
        lambda: CutoverRun.objects.filter(plan=plan, state=RunState.FAILED).first(),
        timeout=90,
        message=f"the run to fail\n{worker.log()[-3000:]}",
    )

    # A second plan on X, whose platform refuses every hand-off: undelivered messages.
    x = platform_channel("x", fake_x.base_url, name="Brand DMs on X", platform_account_id="783214")
    _customers(x, [1, 1], prefix="u")
    fake_x.fail_next(401, body={"title": "Unauthorized"}, path="/2/tweets", times=2)
    other = hard_close_plan(manager=manager, channels=[x], title="Retire X replies")
    submit_and_approve(other, manager=manager, approver=approver)
    _due_now(other, "hard_close")
    undelivered = wait_for(
        lambda: CutoverRun.objects.filter(plan=other, state=RunState.COMPLETED_WITH_FAILURES).first(),
        timeout=90,
        message=f"the second run to end with failures\n{worker.log()[-3000:]}",
    )

    def all_mail_in() -> bool:
        return (
            sum(
                "phase failed" in s or "a échoué" in s
                for m in (manager, french_approver)
                for s in _subjects(smtp_settings, m)
            )
            == 2
            and sum("were not delivered" in s for m in (manager, approver) for s in _subjects(smtp_settings, m)) == 2
        )

    wait_for(all_mail_in, timeout=60, message=f"the owners' emails\n{worker.log()[-3000:]}")
    time.sleep(3)  # more beats: nothing is sent twice

    to_ana = _subjects(smtp_settings, french_approver)
    assert to_ana.count("[Dusk] « Retire X » attend votre approbation") == 2
    assert to_ana.count("[Dusk] « Retire X » : la phase « Fermeture définitive » a commencé") == 1
    assert to_ana.count("[Dusk] Retire X : la phase « Fermeture définitive » a échoué") == 1
    to_arjun = _subjects(smtp_settings, approver)
    assert to_arjun.count("[Dusk] “Retire X” waits for your approval") == 2
    assert not any("Fermeture" in s or "Retire X:" in s for s in to_arjun)  # not Retire X's owner
    to_maya = _subjects(smtp_settings, manager)
    assert to_maya.count("[Dusk] “Retire X” was sent back to you") == 1
    assert to_maya.count("[Dusk] “Retire X” is approved") == 1
    assert to_maya.count("[Dusk] “Retire X”: the Hard close phase has started") == 1
    assert to_maya.count("[Dusk] Retire X: the Hard close phase failed") == 1
    assert not any("waits for your approval" in s for s in to_maya)  # the author is not asked
    for owner in (manager, approver):
        assert sum("were not delivered" in s and "Retire X replies" in s for s in _subjects(smtp_settings, owner)) == 1
    sent_back = next(m.message for m in smtp_settings.messages if "was sent back" in str(m.message["Subject"]))
    assert "Name the phone line in the reply." in sent_back.get_content()
    ids = [m.message["Message-ID"] for m in smtp_settings.messages]
    assert len(ids) == len(set(ids))

    # What the owners see: the failed run, and the run whose notices were not delivered.
    maya.goto(f"/runs/{run.pk}/")
    maya.page.locator("#progress").get_by_text("Stopped").wait_for()
    error = maya.page.locator("#progress .callout.error li").inner_text()
    assert "no longer holds the approver role" in error
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC$", error), error  # an instant, not isoformat()
    maya.shot("findings-4-run-failed")
    maya.goto(f"/runs/{undelivered.pk}/")
    assert maya.page.locator('#progress [data-count="failed"]').inner_text() == "2"
    maya.shot("findings-4-run-undelivered")

    _no_csp_violations(maya, arjun, ana)
    assert "CSP violation reported" not in caplog.text


# --- 5 ------------------------------------------------------------------------------------------


def test_history_is_readable_by_every_role_that_reads_the_audit_log_and_includes_runs(
    browse, manager, approver, hr_coordinator, viewer, caplog
):
    forum = ChannelFactory(kind="discourse", name="Brand forum")
    plan = _two_phase_plan(manager, approver, [forum])
    notice_run, hard_run = _run_in_order(plan)
    runs_events = AuditEvent.objects.filter(object_type="cutoverrun", object_id__in=[str(notice_run), str(hard_run)])
    assert runs_events.filter(action="phase.claimed").count() == 2

    sessions = []
    for username, role in (("hana", "hr"), ("vic", "viewer"), ("arjun", "approver")):
        person = browse(f"findings-history-{role}")
        sessions.append(person)
        person.login(username)
        person.goto(f"/plans/{plan.pk}/")
        person.page.get_by_role("link", name="History").click()
        person.page.wait_for_url(re.compile(rf"/plans/{plan.pk}/history/$"))
        person.page.get_by_role("heading", name="History: Retire the forum").wait_for()
        actions = [a.inner_text() for a in person.page.locator("ol.events code.action").all()]
        # The runs' events (claims, channel changes, completion) and the plan's own, newest first.
        assert actions.count("phase.claimed") == 2, actions
        assert "channels.state_changed" in actions and "run.completed" in actions
        assert actions[-1] == "plan.created" and "plan.approved" in actions
        opened = person.page.locator("ol.events").get_by_role("link", name="open")
        assert f"/runs/{hard_run}/" in [opened.nth(i).get_attribute("href") for i in range(opened.count())]
        # Before/after snapshots stay with the roles that read the audit log.
        details = person.page.locator("ol.events details")
        if role == "approver":
            details.first.locator("summary").click()
            details.first.locator(".beforeafter pre").first.wait_for()
        else:
            assert details.count() == 0
            assert person.page.get_by_role("link", name="Audit log").count() == 0
        person.shot(f"findings-5-history-{role}")

    # The whole audit trail is still not theirs; a plan that does not exist is a clear 404.
    hana, vic = sessions[0], sessions[1]
    text = _refused(hana, "/audit/", 403, "findings-5-audit-log-refused-hr")
    assert "Your role does not allow: view audit." in text
    _refused(vic, f"/audit/?object=sunsetplan:{plan.pk}", 403, "findings-5-audit-log-refused-viewer")
    text = _refused(vic, "/plans/999999/history/", 404, "findings-5-history-no-such-plan")
    assert "No such plan." in text
    response = vic.page.goto(f"{vic.base_url}/plans/{plan.pk}/history/?before=abc")
    assert response.status == 422
    vic.shot("findings-5-history-bad-cursor")

    _no_csp_violations(*sessions)
    assert "CSP violation reported" not in caplog.text


# --- an outsider on the same URLs ---------------------------------------------------------------

FORGE_POST = """([url, token, fields]) => {
  const form = document.createElement('form');
  form.method = 'post';
  form.action = url;
  for (const [name, value] of Object.entries({csrfmiddlewaretoken: token, ...fields})) {
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
}"""


def _forged_post(session, path: str, fields: dict[str, str], status: int, shot: str) -> str:
    """What someone with the browser's developer tools does: post a form the page does not offer,
    with a valid CSRF token, so that only the role check stands in the way."""
    token = next(c["value"] for c in session.context.cookies() if c["name"] == "csrftoken")
    with session.page.expect_navigation() as navigation:
        session.page.evaluate(FORGE_POST, [session.base_url + path, token, fields])
    assert navigation.value.status == status, (path, navigation.value.status)
    session.shot(shot)
    session.console_errors[:] = [e for e in session.console_errors if f"status of {status}" not in e]
    return session.page.locator("main").inner_text()


def test_other_roles_ids_and_hostile_phase_kinds_get_a_clean_refusal_and_change_nothing(
    browse, manager, approver, viewer, hr_coordinator, caplog
):
    forum = ChannelFactory(kind="discourse", name="Brand forum")
    plan = _two_phase_plan(manager, approver, [forum])
    other = _two_phase_plan(
        manager, approver, [ChannelFactory(kind="discourse", name="Other forum")], "Other plan", days=30
    )
    _notice_run, hard_run = _run_in_order(plan)
    forum.refresh_from_db()
    assert forum.state == ChannelState.RETIRED
    last_event = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    cache.clear()  # refusals are recorded within a quota per window: earlier tests' do not count here

    # A viewer posts a rollback (and a retry) the page does not offer them.
    vic = browse("findings-viewer-attack")
    vic.login("vic")
    vic.goto(f"/runs/{hard_run}/rollback/")
    assert vic.page.get_by_role("button", name="Roll back this phase").count() == 0
    assert "Only managers can roll back a phase." in vic.page.locator("main").inner_text()
    text = _forged_post(
        vic, f"/runs/{hard_run}/rollback/", {"reason": "I should not"}, 403, "findings-attack-viewer-rollback"
    )
    assert "Your role does not allow: rollback plan." in text
    _forged_post(vic, f"/runs/{hard_run}/retry-deliveries/", {}, 403, "findings-attack-viewer-retry")

    # An HR coordinator opens the dry run of another plan's phase under this plan's id.
    hana = browse("findings-hr-attack")
    hana.login("hana")
    other_hard = other.phases.get(kind="hard_close")
    _refused(hana, f"/plans/{plan.pk}/phases/{other_hard.pk}/dry-run/", 404, "findings-attack-hr-other-plans-phase")
    _refused(hana, f"/plans/{plan.pk}/phases/archive/dry-run/", 404, "findings-attack-hr-kind-not-in-plan")
    assert "This plan has no such phase." in hana.page.locator("main").inner_text()
    _refused(hana, "/plans/999999/phases/hard_close/dry-run/", 404, "findings-attack-hr-no-such-plan")

    # Hostile kinds and parameters: a clean 4xx each, never a server error.
    hostile = {
        "dotdot": (f"/plans/{plan.pk}/phases/..%2F/dry-run/", 404),
        "dotdot-plain": (f"/plans/{plan.pk}/phases/%2E%2E/dry-run/", 404),
        "nul": (f"/plans/{plan.pk}/phases/%00/dry-run/", 400),
        "long": (f"/plans/{plan.pk}/phases/{'a' * 5000}/dry-run/", 404),
        "script": (f"/plans/{plan.pk}/phases/%3Cscript%3Ealert(1)%3C%2Fscript%3E/dry-run/", 404),
        "region-nul": (f"/plans/{plan.pk}/phases/hard_close/dry-run/?region=%00", 400),
        "region-long": (f"/plans/{plan.pk}/phases/hard_close/dry-run/?region={'r' * 5000}", 404),
        "huge-id": (f"/plans/{plan.pk}/phases/{'9' * 30}/dry-run/", 404),
    }
    for name, (path, status) in hostile.items():
        text = _refused(hana, path, status, f"findings-attack-kind-{name}")
        if status == 400:
            assert "holds a character the portal does not accept (U+0000)" in text
        assert "<script>" not in hana.page.content().split("</head>")[1].replace("&lt;script&gt;", "")
        assert "Traceback" not in text and "Server Error" not in text
    # A page far past the last is the last page, not a server error.
    response = hana.page.goto(f"{hana.base_url}/plans/{plan.pk}/phases/hard_close/dry-run/?page={'9' * 25}")
    assert response.status == 200
    hana.page.get_by_role("heading", name="Dry run: Hard close").wait_for()

    # Nothing changed; the trail has only the two refusals, as security events of the viewer.
    refusals = AuditEvent.objects.filter(pk__gt=last_event)
    assert {(e.action.split(".")[0], e.actor_label) for e in refusals} == {("security", "vic")}
    assert refusals.count() == 2
    forum.refresh_from_db()
    assert forum.state == ChannelState.RETIRED
    assert CutoverRun.objects.get(pk=hard_run).rolled_back_at is None
    assert "Internal Server Error" not in caplog.text
    _no_csp_violations(vic, hana)
