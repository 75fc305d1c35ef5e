"""The run, plan, dashboard, watchdog, message log and rollback pages in a real browser, each test
named after what a walk of the demo found: a screen must say what really happened. Screenshots go
to artifacts/screenshots/findings-*.png; no page may break the Content-Security-Policy."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.cutover.services.engine import claim_due_phases, run_cutover, settle_delivery
from channels_app.models import AuditEvent, Channel, CutoverRun, Message, OutboxMessage, RunState
from channels_app.platforms.services.outbox import send_due_replies
from channels_app.tests.support.helpers import approved_plan, wait_for
from channels_app.tests.support.inbound_helpers import customers_with_tweets, platform_channel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _text(page, selector: str) -> str:
    return " ".join(page.locator(selector).first.inner_text().split())


def _count(page, name: str) -> int:
    return int(page.locator(f'[data-count="{name}"]').first.inner_text())


def _no_csp_violation(caplog, *sessions) -> None:
    for session in sessions:
        session.check_csp()
        assert session.violations == [], f"{session.name}: {session.violations}"
    assert "CSP violation reported" not in caplog.text


def _in_french(session) -> None:
    session.context.add_cookies([{"name": "django_language", "value": "fr", "url": session.base_url}])


def _run_with_failures(manager, approver, fake_x, *, customers: int, refused: int) -> tuple[int, object, Channel]:
    """A hard close on an X channel whose platform refuses the token (401) for `refused` of its
    hand-off notices; run and delivered in this process by the real cutover and outbox sender."""
    x = platform_channel("x", fake_x.base_url, name="Brand on X")
    customers_with_tweets(x, customers)
    plan = approved_plan(manager=manager, approver=approver, channels=[x])
    [run_id] = claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))
    assert run_cutover(run_id=run_id, worker_id="t") == "delivering"
    fake_x.fail_next(401, body={"title": "Unauthorized"}, path="/2/tweets", times=refused)
    send_due_replies(worker_id="t")
    assert settle_delivery(run_id=run_id) == (RunState.COMPLETED_WITH_FAILURES if refused else RunState.COMPLETED)
    return run_id, plan, x


@pytest.mark.worker
def test_a_run_whose_notices_fail_is_not_shown_completed(
    browse, manager, approver, smtp_settings, platform_secrets, fake_x, celery_workers, caplog
):
    x = platform_channel("x", fake_x.base_url, name="Brand on X")
    customers_with_tweets(x, 5)
    worker = celery_workers("w1")
    worker.wait_ready()
    # The platform accepts the connection test, then refuses every notice: the token was revoked.
    fake_x.fail_next(401, body={"title": "Unauthorized"}, path="/2/tweets", times=5)
    plan = approved_plan(manager=manager, approver=approver, channels=[x], at=timezone.now() + timedelta(seconds=5))
    run = wait_for(
        lambda: CutoverRun.objects.filter(plan=plan, state=RunState.COMPLETED_WITH_FAILURES).first(),
        timeout=90,
        message=f"the run to end with failures\n{worker.log()[-3000:]}",
    )

    maya = browse("manager")
    maya.login("maya")
    page = maya.goto(f"/runs/{run.pk}/")
    assert _text(page, "#progress h2 .state") == "Completed with failures"
    assert (_count(page, "failed"), run.handoffs_queued) == (5, 5)
    summary = _text(page, "#progress .summary")
    assert re.search(r"Hand-off notices written 5 Hand-off notices delivered 0 ", summary), summary
    assert "5 messages were not delivered" in _text(page, "#progress")
    assert "The platform did not accept the credentials (HTTP 401)" in _text(page, ".delivery-failures")
    maya.shot("findings-01-run-completed-with-failures")
    page.get_by_role("link", name="See all 5 undelivered messages").click()
    page.wait_for_url(re.compile(rf"/runs/{run.pk}/failures/$"))
    assert page.locator("table.run-failures tbody tr").count() == 5
    assert "5 hand-off notices" in _text(page, "#handoffs-h") and "No email failed." in _text(page, "main")
    maya.shot("findings-01b-run-failures")

    page = maya.goto(f"/plans/{plan.pk}/")
    assert _text(page, "#runs-h + ul .state") == "Completed with failures"
    assert _text(page, "h1") == "Retire social support Completed 5 messages not delivered"
    assert "5 messages of this plan were not delivered" in _text(page, "section[aria-labelledby=runs-h]")
    maya.shot("findings-02-plan-with-undelivered-messages")
    for session, name in ((maya, "manager"), (browse("approver"), "approver")):
        if name == "approver":
            session.login("arjun")
        page = session.goto("/")
        todo = _text(page, "section[aria-labelledby=todo-h]")
        assert "Runs with undelivered messages" in todo and "5 messages not delivered" in todo, todo
        session.shot(f"findings-03-dashboard-needs-my-action-{name}")

    # The token is fixed (the scripted refusals are spent): Retry sends every notice again, once.
    page = maya.goto(f"/runs/{run.pk}/")
    page.get_by_role("button", name="Retry the failed messages").click()
    page.get_by_text("5 messages queued again").wait_for()
    page.locator("#progress h2 .state-completed").wait_for(timeout=60000)
    assert _text(page, "#progress h2 .state") == "Completed"
    assert (_count(page, "failed"), _count(page, "waiting")) == (0, 0)
    maya.shot("findings-04-run-completed-after-retry")
    assert len(fake_x.tweets) == 5
    assert sorted(t["in_reply_to"] for t in fake_x.tweets) == sorted(
        Message.objects.filter(channel=x, direction="in").values_list("platform_message_id", flat=True)
    )
    assert not OutboxMessage.objects.filter(created_by_run=run, state="skipped").exists()
    page = maya.goto("/")
    assert "Runs with undelivered messages" not in _text(page, "section[aria-labelledby=todo-h]")
    _no_csp_violation(caplog, maya)


def test_watchdog_numbers_agree_with_the_message_log_and_channel_page(
    browse, manager, approver, smtp_settings, platform_secrets, fake_x, caplog
):
    run_id, _plan, x = _run_with_failures(manager, approver, fake_x, customers=8, refused=3)
    conversation = OutboxMessage.objects.filter(created_by_run_id=run_id).first().conversation
    now = timezone.now()
    # Four customers write after the retirement, on the retired channel.
    Message.objects.bulk_create(
        [
            Message(
                channel=x,
                conversation=conversation,
                platform_message_id=f"late{i}",
                direction="in",
                text="hello?",
                created_at=now,
            )
            for i in range(4)
        ]
    )

    maya = browse("manager")
    maya.login("maya")
    page = maya.goto(f"/channels/{x.pk}/watchdog/")
    cards = [" ".join(c.split()) for c in page.locator(".stats .card").all_inner_texts()]
    maya.shot("findings-05-watchdog")
    last_24h = int(re.match(r"(\d+) messages in the last 24 hours", cards[0])[1])
    failed = int(re.match(r"(\d+) replies failed", cards[3])[1])
    told = int(re.search(r"of (\d+) customers told", cards[2])[1])

    page = maya.goto(f"/channels/{x.pk}/")
    channel_24h = int(re.search(r"(\d+) in 24 hours", _text(page, "main"))[1])
    maya.shot("findings-06-channel-page")

    page = maya.goto(f"/channels/{x.pk}/messages/?state=failed")
    failed_rows = page.locator("table.messages-log tbody tr").count()
    alert = _text(page, ".alert-failed")
    maya.shot("findings-07-message-log-failed")
    page = maya.goto(f"/channels/{x.pk}/messages/?state=sent&direction=out")
    sent_rows = page.locator("table.messages-log tbody tr").count()
    page = maya.goto(f"/channels/{x.pk}/messages/?state=received")
    received_rows = page.locator("table.messages-log tbody tr").count()

    # Eight customers wrote before the cutover and four after: all twelve within 24 hours.
    assert last_24h == channel_24h == received_rows == 12
    assert failed == failed_rows == 3 and alert.startswith("3 replies failed permanently")
    assert told == sent_rows == 5
    _no_csp_violation(caplog, maya)


def test_rollback_summary_is_in_words_translated_and_shown_on_the_run_page(
    browse, manager, approver, smtp_settings, platform_secrets, fake_x, caplog
):
    run_id, plan, x = _run_with_failures(manager, approver, fake_x, customers=6, refused=2)
    maya = browse("manager")
    maya.login("maya")

    # The failed notices are queued again from the run page: they are sent, none is skipped.
    page = maya.goto(f"/runs/{run_id}/")
    page.get_by_role("button", name="Retry the failed messages").click()
    page.get_by_text("2 messages queued again").wait_for()
    send_due_replies(worker_id="t")
    assert settle_delivery(run_id=run_id) == RunState.COMPLETED
    assert OutboxMessage.objects.filter(created_by_run_id=run_id, state="sent").count() == 6
    assert not OutboxMessage.objects.filter(created_by_run_id=run_id, state="skipped").exists()
    assert len(fake_x.tweets) == 6

    page = maya.goto(f"/runs/{run_id}/rollback/")
    maya.shot("findings-08-rollback-form")
    page.get_by_label("Why roll back? (recorded in the audit trail)").fill("Wrong date announced")
    page.get_by_role("button", name="Roll back this phase").click()
    page.get_by_text("The phase was rolled back").wait_for()
    summary = page.locator("ul.rollback-summary li").all_inner_texts()
    assert summary == [
        "1 channel restored",
        "6 conversations reopened",
        "6 hand-off notices had already reached their customers",
    ], summary
    maya.shot("findings-09-rollback-done")

    page = maya.goto(f"/runs/{run_id}/")
    progress = _text(page, "#progress")
    assert _text(page, "#progress h2 .state") == "Rolled back"
    assert "Rolled back by maya on" in progress and "Reason: Wrong date announced" in progress
    assert "6 hand-off notices had already reached their customers" in progress
    assert "rollback_summary" not in progress and "channels_restored" not in progress
    maya.shot("findings-10-run-rolled-back")

    _in_french(maya)
    page = maya.goto(f"/runs/{run_id}/")
    progress = _text(page, "#progress")
    assert _text(page, "#progress h2 .state") == "Annulé (retour arrière)"
    assert "Retour arrière effectué par maya le" in progress and "Motif : Wrong date announced" in progress
    assert page.locator("ul.rollback-summary li").all_inner_texts() == [
        "1 canal restauré",
        "6 conversations rouvertes",
        "6 avis de transfert étaient déjà parvenus à leurs clients",
    ]
    maya.shot("findings-11-run-rolled-back-fr")
    page = maya.goto(f"/runs/{run_id}/rollback/")
    assert "1 canal restauré" in _text(page, "main")
    maya.shot("findings-12-rollback-fr")

    # The audit's "before" is what the rollback found, not what it restored.
    event = AuditEvent.objects.get(action="run.rolled_back")
    assert event.before["run_state"] == RunState.COMPLETED and event.before["plan_state"] == "completed"
    assert event.before["channels"][str(x.pk)]["state"] == "retired"
    assert event.after["channels"][str(x.pk)]["state"] == "active"
    x.refresh_from_db()
    assert x.state == "active"
    _no_csp_violation(caplog, maya)
