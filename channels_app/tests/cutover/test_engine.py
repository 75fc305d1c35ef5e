"""The cutover engine, run in-process against the real database."""

import re
import threading
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import close_old_connections, connection
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext

from channels_app.audit.services import verify_chain
from channels_app.core.errors import InvalidTransition, LeaseLost
from channels_app.cutover.services import engine as cutover
from channels_app.cutover.services.delivery import send_owner_notices
from channels_app.cutover.services.engine import claim_due_phases, reap_stuck_runs, run_cutover, settle_delivery
from channels_app.models import (
    Assignment,
    AuditEvent,
    Channel,
    ChannelState,
    Conversation,
    ConversationState,
    CutoverRun,
    OutboxMessage,
    OutboxState,
    Phase,
    PhaseState,
    PlanState,
    Reassignment,
    ReassignmentState,
    RunState,
    SunsetPlan,
)
from channels_app.plans.selectors import run_delivery_counts
from channels_app.plans.services.plans import AutoReplyInput, cancel_plan, confirm_reassignments
from channels_app.tests.support.factories import AssignmentFactory, ChannelFactory, ConversationFactory, TeamFactory
from channels_app.tests.support.helpers import (
    HARD_CLOSE_REPLY,
    approved_plan,
    hard_close_plan,
    submit_and_approve,
    utc_phase,
)
from channels_app.workforce.services.moves import assign_agents

LATER = timedelta(days=31)


@pytest.fixture
def x_forum_and_phone_channels(db):
    """Two retiring channels, one that stays, a social team and a phone team."""
    x = ChannelFactory(kind="x", name="Brand on X")
    forum = ChannelFactory(kind="discourse", name="Brand forum")
    phone = ChannelFactory(kind="phone", name="Brand phone")
    social = TeamFactory(name="Social care")
    social.channels.set([x, forum])
    phone_team = TeamFactory(name="Phone EMEA", capacity=100)
    phone_team.channels.set([phone])
    agents = [AssignmentFactory(team=social).agent for _ in range(6)]
    ConversationFactory.create_batch(14, channel=x)
    ConversationFactory.create_batch(11, channel=forum)
    ConversationFactory.create_batch(5, channel=phone)
    ConversationFactory.create_batch(2, channel=x, state=ConversationState.CLOSED)
    return {"x": x, "forum": forum, "phone": phone, "social": social, "phone_team": phone_team, "agents": agents}


def _plan_with_moves(x_forum_and_phone_channels, manager, approver, hr_coordinator):
    # The social team works only retiring channels: its agents need destinations before submitting.
    plan = hard_close_plan(
        manager=manager, channels=[x_forum_and_phone_channels["x"], x_forum_and_phone_channels["forum"]]
    )
    assign_agents(
        actor=hr_coordinator,
        plan=plan,
        agent_ids=[agent.pk for agent in x_forum_and_phone_channels["agents"]],
        to_team=x_forum_and_phone_channels["phone_team"],
        effective_date=plan.phases.get().local_date,
    )
    confirm_reassignments(actor=hr_coordinator, plan=plan)
    return submit_and_approve(plan, manager=manager, approver=approver)


def _claim(plan) -> CutoverRun:
    run_ids = claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))
    assert len(run_ids) == 1
    return CutoverRun.objects.get(pk=run_ids[0])


def test_due_phase_is_claimed_exactly_once(manager, approver, x_forum_and_phone_channels):
    plan = approved_plan(manager=manager, approver=approver, channels=[x_forum_and_phone_channels["x"]])
    instant = plan.phases.get().instant
    assert claim_due_phases(now=instant - timedelta(seconds=1)) == []
    run = _claim(plan)
    assert claim_due_phases(now=instant + timedelta(seconds=2)) == []
    plan.refresh_from_db()
    assert plan.state == PlanState.RUNNING
    assert run.phase.state == PhaseState.RUNNING
    assert run.state == RunState.QUEUED


def test_hard_close_runs_every_step(
    manager, approver, hr_coordinator, x_forum_and_phone_channels, smtp_settings, settings
):
    settings.DUSK_CHUNK_SIZE = 10  # 25 open conversations -> three committed chunks
    plan = _plan_with_moves(x_forum_and_phone_channels, manager, approver, hr_coordinator)
    run = _claim(plan)

    # The database steps are done; the hand-off notices are still to go out.
    assert run_cutover(run_id=run.pk, worker_id="test") == "delivering"

    run.refresh_from_db()
    plan.refresh_from_db()
    assert run.state == RunState.DELIVERING
    assert plan.state == PlanState.COMPLETED
    assert run.phase.state == PhaseState.COMPLETED
    # Channels retired; the phone channel is untouched.
    x_forum_and_phone_channels["x"].refresh_from_db()
    x_forum_and_phone_channels["phone"].refresh_from_db()
    assert x_forum_and_phone_channels["x"].state == ChannelState.RETIRED
    assert x_forum_and_phone_channels["phone"].state == ChannelState.ACTIVE
    # Open conversations on retiring channels moved, each with one hand-off notice.
    moved = Conversation.objects.filter(moved_by_run=run)
    assert moved.count() == 25 == run.conversations_moved
    assert set(moved.values_list("state", flat=True)) == {ConversationState.REDIRECTED}
    assert moved.filter(redirected_to__position=0).count() == 25
    assert (
        Conversation.objects.filter(channel=x_forum_and_phone_channels["phone"], state=ConversationState.OPEN).count()
        == 5
    )
    assert Conversation.objects.filter(state=ConversationState.CLOSED).count() == 2
    handoffs = OutboxMessage.objects.filter(created_by_run=run, kind="handoff")
    assert handoffs.count() == 25 == run.handoffs_queued
    assert set(handoffs.values_list("conversation_id", flat=True)) == set(moved.values_list("id", flat=True))
    # Agents: old assignment ended, new one open, move done.
    for agent in x_forum_and_phone_channels["agents"]:
        rows = list(Assignment.objects.filter(agent=agent).order_by("id").values_list("team__name", "ends_on"))
        assert rows == [("Social care", plan.phases.get().local_date), ("Phone EMEA", None)]
    assert set(Reassignment.objects.filter(plan=plan).values_list("state", flat=True)) == {ReassignmentState.DONE}
    assert run.agents_reassigned == 6
    # Emails: six agents, the author and the approver, once each.
    recipients = sorted(m.message["To"] for m in smtp_settings.messages)
    assert recipients == sorted(
        [a.email for a in x_forum_and_phone_channels["agents"]] + [manager.email, approver.email]
    )
    assert run.notifications_sent == 8
    assert len({m.message["Message-ID"] for m in smtp_settings.messages}) == 8
    # Progress, timings and the audit trail.
    assert [
        run.steps[s]["state"] for s in ("freeze", "channels", "conversations", "reassignments", "notifications")
    ] == ["done"] * 5
    assert run.steps["conversations"]["done"] == run.steps["conversations"]["total"] == 25
    assert run.snapshot["channels"][str(x_forum_and_phone_channels["x"].pk)]["state"] == "active"
    assert run.duration_seconds is not None
    # Delivery: the run stays "Delivering" until the outbox has sent every notice.
    assert settle_delivery(run_id=run.pk) is None
    assert run_delivery_counts(run.pk).unsettled == 25
    handoffs.update(state=OutboxState.SENT, sent_at=timezone.now(), platform_response_id="1850000000000000009")
    assert settle_delivery(run_id=run.pk) == RunState.COMPLETED
    run.refresh_from_db()
    assert run.steps["delivering"]["done"] == run.steps["delivering"]["total"] == 25 + 8
    assert run.steps["done"]["state"] == "done" and run.delivered_at is not None
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"phase.claimed", "channels.state_changed", "reassignments.applied", "run.delivering", "run.completed"} <= (
        actions
    )
    assert verify_chain() == []


def test_moved_agents_are_emailed_in_their_own_language(
    manager, approver, hr_coordinator, x_forum_and_phone_channels, smtp_settings
):
    french, indonesian, *others = x_forum_and_phone_channels["agents"]
    french.languages, indonesian.languages = ["fr", "en"], ["jv", "id-ID", "en"]
    french.save(update_fields=["languages"])
    indonesian.save(update_fields=["languages"])
    plan = _plan_with_moves(x_forum_and_phone_channels, manager, approver, hr_coordinator)
    assert run_cutover(run_id=_claim(plan).pk, worker_id="test") == "delivering"

    mail = {m.message["To"]: m.message for m in smtp_settings.messages}
    day = plan.phases.get().local_date
    for agent, language in [(french, "fr"), (indonesian, "id"), (others[0], "en")]:
        message = mail[agent.email]
        body = message.get_content()
        with translation.override(language):
            hello = gettext("Hello %(name)s,") % {"name": agent.name}
            when = date_format(day, "l j F Y")
        assert body.startswith(hello) and when in body, (language, body)
        assert "Phone EMEA" in body and "Phone EMEA" in message["Subject"]
        if language == "en":
            assert "have retired" in body  # worded for the moment it is sent: the hard close has run
    # Each in its own words: the French and Indonesian emails are not the English one.
    assert len({mail[a.email].get_content().split("\n")[0].split()[0] for a in (french, indonesian, others[0])}) == 3


def test_an_ended_plan_says_how_many_agents_its_run_moved(
    client, manager, approver, hr_coordinator, x_forum_and_phone_channels, smtp_settings
):
    plan = _plan_with_moves(x_forum_and_phone_channels, manager, approver, hr_coordinator)
    assert run_cutover(run_id=_claim(plan).pk, worker_id="test") == "delivering"
    client.force_login(manager)
    html = client.get(reverse("plan_detail", args=[plan.pk])).content.decode()
    # Not "Agents affected 0" (they have left the retired channels' teams): the six the run moved.
    assert re.search(r'data-count="agents-reassigned">6<', html)
    assert "Agents affected" not in html


def test_a_finished_run_is_not_run_again(manager, approver, x_forum_and_phone_channels, smtp_settings):
    plan = approved_plan(manager=manager, approver=approver, channels=[x_forum_and_phone_channels["x"]])
    run = _claim(plan)
    assert run_cutover(run_id=run.pk, worker_id="a") in ("completed", "delivering")
    sent = len(smtp_settings.messages)
    assert run_cutover(run_id=run.pk, worker_id="b") == "skipped"
    assert OutboxMessage.objects.count() == 14
    assert len(smtp_settings.messages) == sent


def test_freeze_rechecks_approval_at_run_time(manager, approver, x_forum_and_phone_channels, smtp_settings):
    plan = approved_plan(manager=manager, approver=approver, channels=[x_forum_and_phone_channels["x"]])
    approver.groups.remove(Group.objects.get(name="approver"))
    run = _claim(plan)

    assert run_cutover(run_id=run.pk, worker_id="test") == "failed"

    run.refresh_from_db()
    plan.refresh_from_db()
    x_forum_and_phone_channels["x"].refresh_from_db()
    assert run.state == RunState.FAILED
    assert "no longer holds the approver role" in run.errors[-1]["error"]
    assert plan.state == PlanState.FAILED
    assert x_forum_and_phone_channels["x"].state == ChannelState.ACTIVE
    assert not Conversation.objects.filter(state=ConversationState.REDIRECTED).exists()
    assert not OutboxMessage.objects.exists()
    assert smtp_settings.messages == []
    # The plan's author and approver are told, once each.
    assert send_owner_notices(run_id=run.pk) == 2
    assert send_owner_notices(run_id=run.pk) == 0
    assert sorted(m.message["To"] for m in smtp_settings.messages) == sorted([manager.email, approver.email])
    assert all("phase failed" in m.message["Subject"] for m in smtp_settings.messages)
    # Each ends with the run page's address, where "what was done before it stopped" is shown.
    assert all(m.message.get_content().rstrip().endswith(f"/runs/{run.pk}/") for m in smtp_settings.messages)


def test_reaper_hands_a_silent_run_to_another_worker(
    manager, approver, x_forum_and_phone_channels, smtp_settings, settings
):
    settings.DUSK_RUN_STUCK_AFTER = 60
    plan = approved_plan(manager=manager, approver=approver, channels=[x_forum_and_phone_channels["x"]])
    run = _claim(plan)
    lease = cutover._take_lease(run.pk, "first-worker")
    assert lease
    # Still fresh: a second worker cannot take it, the reaper leaves it alone.
    assert run_cutover(run_id=run.pk, worker_id="second") == "skipped"
    assert reap_stuck_runs() == []
    # Silent for longer than the threshold: handed back.
    assert reap_stuck_runs(now=timezone.now() + timedelta(seconds=61)) == [run.pk]
    assert run_cutover(run_id=run.pk, worker_id="second") in ("completed", "delivering")
    run.refresh_from_db()
    assert run.attempts == 2
    assert run.worker_id == "second"
    # The first worker, if it wakes up, can no longer write.
    ctx = cutover._Ctx(
        run_id=run.pk,
        lease=lease,
        worker_id="first-worker",
        phase=run.phase,
        plan=run.plan,
        channel_ids=[x_forum_and_phone_channels["x"].pk],
    )
    with pytest.raises(LeaseLost):
        cutover._beat(ctx)


def test_soft_close_changes_state_but_moves_nothing(manager, approver, x_forum_and_phone_channels, smtp_settings):
    from channels_app.tests.support.helpers import utc_phase

    at = timezone.now() + LATER
    plan = approved_plan(
        manager=manager,
        approver=approver,
        channels=[x_forum_and_phone_channels["x"]],
        phases=[utc_phase("soft_close", at), utc_phase("hard_close", at + timedelta(days=1))],
        auto_replies=[
            AutoReplyInput(k, "en", "Hi {customer_name}, call {phone}.") for k in ("soft_close", "hard_close")
        ],
    )
    run_ids = claim_due_phases(now=at + timedelta(seconds=1))
    assert len(run_ids) == 1
    assert run_cutover(run_id=run_ids[0], worker_id="t") in ("completed", "delivering")
    x_forum_and_phone_channels["x"].refresh_from_db()
    plan.refresh_from_db()
    assert x_forum_and_phone_channels["x"].state == ChannelState.SOFT_CLOSED
    assert plan.state == PlanState.SCHEDULED  # the hard close is still ahead
    assert not Conversation.objects.filter(state=ConversationState.REDIRECTED).exists()


@pytest.mark.django_db(transaction=True)
def test_cancel_racing_claim_has_exactly_one_winner(django_user_model, manager, approver):
    if connection.vendor != "postgresql":
        pytest.skip("row locks and concurrent transactions need PostgreSQL")
    channel = ChannelFactory()
    outcomes = []
    for round_no in range(10):
        plan = approved_plan(manager=manager, approver=approver, channels=[channel], title=f"Round {round_no}")
        due = plan.phases.get().instant + timedelta(seconds=1)
        barrier = threading.Barrier(2)
        result: dict[str, object] = {}

        # Alternate a small head start so both orders are exercised.
        claim_delay, cancel_delay = (0.0, 0.004) if round_no % 2 == 0 else (0.004, 0.0)

        def claim(due=due, barrier=barrier, result=result, delay=claim_delay):
            barrier.wait()
            time.sleep(delay)
            try:
                result["claimed"] = claim_due_phases(now=due)
            finally:
                close_old_connections()
                connection.close()

        def cancel(plan=plan, barrier=barrier, result=result, delay=cancel_delay):
            barrier.wait()
            time.sleep(delay)
            try:
                cancel_plan(actor=manager, plan=plan.pk)
                result["cancelled"] = True
            except InvalidTransition as exc:
                result["cancelled"] = False
                result["cancel_error"] = str(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=claim), threading.Thread(target=cancel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        plan.refresh_from_db()
        phase = plan.phases.get()
        claimed = bool(result["claimed"])
        assert claimed != result["cancelled"], result  # exactly one wins
        if claimed:
            assert phase.state == PhaseState.RUNNING
            assert plan.state == PlanState.RUNNING
            assert CutoverRun.objects.filter(phase=phase).count() == 1
            # Finish the round so the channel is free for the next plan.
            SunsetPlan.objects.filter(pk=plan.pk).update(state=PlanState.COMPLETED)
            plan.plan_channels.update(is_open=False)
        else:
            assert phase.state == PhaseState.CANCELLED
            assert plan.state == PlanState.CANCELLED
            assert not CutoverRun.objects.filter(phase=phase).exists()
        outcomes.append("claim" if claimed else "cancel")
    # The database, not the test, decides; record who won for the log.
    print("race winners:", outcomes)


def _three_phase_plan(manager, approver, channels, at):
    plan = hard_close_plan(
        manager=manager,
        channels=channels,
        phases=[
            utc_phase("notice", at - timedelta(minutes=20)),
            utc_phase("soft_close", at - timedelta(minutes=10)),
            utc_phase("hard_close", at),
        ],
        auto_replies=[
            AutoReplyInput("notice", "en", "Until {date} we are happy to help; then call {phone}."),
            AutoReplyInput("soft_close", "en", "We are closing: call {phone} or visit {redirect_url}."),
            AutoReplyInput("hard_close", "en", HARD_CLOSE_REPLY),
        ],
    )
    return submit_and_approve(plan, manager=manager, approver=approver)


def test_phases_due_together_supersede_the_earlier_ones(manager, approver, smtp_settings):
    x = ChannelFactory(kind="x", name="Brand on X")
    ConversationFactory.create_batch(3, channel=x)
    at = timezone.now() + timedelta(days=3)
    plan = _three_phase_plan(manager, approver, [x], at)
    # Every worker was down while all three fell due: one sweep claims only the hard close.
    run_ids = claim_due_phases(now=at + timedelta(seconds=5))
    assert len(run_ids) == 1
    runs = {r.phase.kind: r for r in CutoverRun.objects.filter(plan=plan).select_related("phase", "superseded_by")}
    assert runs["notice"].state == runs["soft_close"].state == RunState.SKIPPED
    assert runs["notice"].superseded_by.kind == runs["soft_close"].superseded_by.kind == "hard_close"
    assert runs["notice"].phase.state == PhaseState.SKIPPED
    assert runs["hard_close"].pk == run_ids[0]
    assert run_cutover(run_id=run_ids[0], worker_id="t") in ("completed", "delivering")
    x.refresh_from_db()
    assert x.state == ChannelState.RETIRED
    plan.refresh_from_db()
    assert plan.state == PlanState.COMPLETED
    assert AuditEvent.objects.filter(action="phase.superseded").count() == 2


def test_a_phase_waits_while_an_earlier_one_runs_and_a_queued_one_is_overtaken(manager, approver, smtp_settings):
    x = ChannelFactory(kind="x", name="Brand on X")
    plan = _three_phase_plan(manager, approver, [x], timezone.now() + timedelta(days=3))
    now = timezone.now()
    instants = {"notice": now - timedelta(minutes=20), "soft_close": now - timedelta(seconds=5)}
    instants["hard_close"] = now + timedelta(hours=1)
    for kind, instant in instants.items():
        Phase.objects.filter(plan=plan, kind=kind).update(instant=instant)
    [notice_run] = claim_due_phases(now=instants["notice"] + timedelta(seconds=1))
    # The notice run is queued (no worker yet) when the soft close falls due: not claimed.
    assert claim_due_phases(now=now) == []
    # A worker then picks the notice run up: its later phase is due, so it is superseded
    # before it changes anything, and the soft close runs next.
    assert run_cutover(run_id=notice_run, worker_id="late") == "skipped"
    run = CutoverRun.objects.get(pk=notice_run)
    assert run.state == RunState.SKIPPED and run.superseded_by.kind == "soft_close"
    x.refresh_from_db()
    assert x.state == ChannelState.ACTIVE
    [soft_run] = claim_due_phases(now=timezone.now())
    assert CutoverRun.objects.get(pk=soft_run).phase.kind == "soft_close"


def test_a_channel_state_never_moves_backwards_within_a_plan(manager, approver, smtp_settings):
    x = ChannelFactory(kind="x", name="Brand on X")
    at = timezone.now() + timedelta(days=3)
    _three_phase_plan(manager, approver, [x], at)
    [notice_run] = claim_due_phases(now=at - timedelta(minutes=19))
    # Whatever retired the channel meanwhile, a notice run never brings it back to notice.
    Channel.objects.filter(pk=x.pk).update(state=ChannelState.RETIRED)
    assert run_cutover(run_id=notice_run, worker_id="t") in ("completed", "delivering")
    x.refresh_from_db()
    assert x.state == ChannelState.RETIRED
    assert not AuditEvent.objects.filter(action="channels.state_changed").exists()


def test_one_handoff_notice_per_customer_and_channel_lists_their_references(manager, approver, smtp_settings):
    x = ChannelFactory(kind="x", name="Brand on X")
    many = ConversationFactory.create_batch(4, channel=x, customer_id="42", customer_handle="@many")
    ConversationFactory.create_batch(2, channel=x)
    plan = approved_plan(manager=manager, approver=approver, channels=[x])
    [run_id] = claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))
    run_cutover(run_id=run_id, worker_id="t")
    notices = OutboxMessage.objects.filter(created_by_run_id=run_id, kind="handoff")
    assert notices.count() == 3
    assert notices.filter(conversation__customer_id="42").count() == 1
    assert CutoverRun.objects.get(pk=run_id).handoffs_queued == 3
    assert {c.reference for c in many} <= set(
        Conversation.objects.filter(moved_by_run_id=run_id, customer_id="42").values_list("reference", flat=True)
    )
