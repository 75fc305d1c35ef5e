"""Cutover safety: rollback, follow-the-sun, reminders."""

from datetime import date, time, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from channels_app.core.errors import InvalidTransition
from channels_app.cutover.services.engine import claim_due_phases, run_cutover
from channels_app.cutover.services.reminders import queue_due_reminders, send_pending_reminders
from channels_app.cutover.services.rollback import rollback_run
from channels_app.models import (
    Assignment,
    AuditEvent,
    Channel,
    ChannelState,
    CutoverRun,
    OutboxMessage,
    OutboxState,
    PhaseState,
    PlanState,
    Reminder,
)
from channels_app.plans.services.plans import (
    AutoReplyInput,
    PhaseInput,
    RegionInput,
    copy_plan_into_draft,
    create_plan,
    follow_the_sun,
)
from channels_app.tests.support.factories import AssignmentFactory, ChannelFactory, ConversationFactory, TeamFactory
from channels_app.tests.support.helpers import (
    HARD_CLOSE_REPLY,
    REDIRECTS,
    hard_close_plan,
    move_everyone,
    submit_and_approve,
)

# Tables whose rows a rollback must restore exactly, and the columns that make a row.
RESTORED_TABLES = {
    "channels_app_channel": "id, kind, name, handle, state, archived_at",
    "channels_app_conversation": "id, channel_id, platform_thread_id, reference, state, redirected_to_id, moved_by_run_id",
    "channels_app_assignment": "id, agent_id, team_id, role, starts_on, ends_on, created_by_run_id, ended_by_run_id",
    "channels_app_reassignment": "id, agent_id, from_team_id, to_team_id, effective_date, state, applied_by_run_id",
    "channels_app_planchannel": "id, plan_id, channel_id, region",
    "channels_app_outboxmessage": "id, conversation_id, kind, state",
}


def _tables() -> dict[str, list[tuple]]:
    with connection.cursor() as cur:
        out = {}
        for table, columns in RESTORED_TABLES.items():
            cur.execute(f"SELECT {columns} FROM {table} ORDER BY id")
            out[table] = cur.fetchall()
        return out


@pytest.fixture
def x_and_forum_with_a_phone_team(db):
    x = ChannelFactory(kind="x", name="Brand on X")
    forum = ChannelFactory(kind="discourse", name="Brand forum")
    social = TeamFactory(name="Social care")
    social.channels.set([x, forum])
    phone = TeamFactory(name="Phone", capacity=50)
    agents = [AssignmentFactory(team=social).agent for _ in range(4)]
    ConversationFactory.create_batch(9, channel=x)
    ConversationFactory.create_batch(3, channel=forum)
    return {"x": x, "forum": forum, "social": social, "phone": phone, "agents": agents}


def _completed_hard_close(x_and_forum_with_a_phone_team, manager, approver, hr_coordinator):
    plan = hard_close_plan(
        manager=manager, channels=[x_and_forum_with_a_phone_team["x"], x_and_forum_with_a_phone_team["forum"]]
    )
    move_everyone(
        plan,
        hr_coordinator=hr_coordinator,
        agents=x_and_forum_with_a_phone_team["agents"],
        to_team=x_and_forum_with_a_phone_team["phone"],
    )
    submit_and_approve(plan, manager=manager, approver=approver)
    before = _tables()
    run_ids = claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))
    assert run_cutover(run_id=run_ids[0], worker_id="t") in ("completed", "delivering")
    return plan, CutoverRun.objects.get(pk=run_ids[0]), before


def test_rollback_restores_exactly_the_pre_cutover_state(
    manager, approver, hr_coordinator, x_and_forum_with_a_phone_team, smtp_settings
):
    plan, run, before = _completed_hard_close(x_and_forum_with_a_phone_team, manager, approver, hr_coordinator)
    after_cutover = _tables()
    assert after_cutover != before  # the cutover really changed things
    # One customer already received the hand-off notice; it must not be sent again later.
    sent = OutboxMessage.objects.filter(created_by_run=run).order_by("id").first()
    OutboxMessage.objects.filter(pk=sent.pk).update(
        state=OutboxState.SENT, sent_at=timezone.now(), platform_response_id="1850000000000000001"
    )

    rollback_run(actor=manager, run=run, reason="Phone queue overloaded")

    restored = _tables()
    for table in RESTORED_TABLES:
        if table == "channels_app_outboxmessage":
            # Only the notice that really went out remains: customers are not spammed again.
            assert [row[0] for row in restored[table]] == [sent.pk]
        else:
            assert restored[table] == before[table], table
    run.refresh_from_db()
    plan.refresh_from_db()
    assert plan.state == PlanState.ROLLED_BACK
    assert run.phase.state == PhaseState.ROLLED_BACK
    assert run.rolled_back_by == manager
    assert run.rollback_summary["conversations_reopened"] == 12
    assert run.rollback_summary["handoffs_already_sent"] == 1
    event = AuditEvent.objects.get(action="run.rolled_back")
    assert event.actor == manager
    assert event.after["reason"] == "Phone queue overloaded"


def test_a_new_plan_after_rollback_does_not_notify_the_same_customer_twice(
    manager, approver, hr_coordinator, x_and_forum_with_a_phone_team, smtp_settings
):
    plan, run, _before = _completed_hard_close(x_and_forum_with_a_phone_team, manager, approver, hr_coordinator)
    first = OutboxMessage.objects.filter(created_by_run=run).order_by("id").first()
    OutboxMessage.objects.filter(pk=first.pk).update(
        state=OutboxState.SENT, sent_at=timezone.now(), platform_response_id="1850000000000000002"
    )
    rollback_run(actor=manager, run=run, reason="Too early")
    again = hard_close_plan(
        manager=manager,
        channels=[x_and_forum_with_a_phone_team["x"], x_and_forum_with_a_phone_team["forum"]],
        title="Again",
    )
    move_everyone(
        again,
        hr_coordinator=hr_coordinator,
        agents=x_and_forum_with_a_phone_team["agents"],
        to_team=x_and_forum_with_a_phone_team["phone"],
    )
    submit_and_approve(again, manager=manager, approver=approver)
    run_ids = claim_due_phases(now=again.phases.get().instant + timedelta(seconds=1))
    run_cutover(run_id=run_ids[0], worker_id="t")
    notices = OutboxMessage.objects.filter(kind="handoff")
    assert notices.count() == 12
    assert notices.filter(conversation=first.conversation).count() == 1


def test_rollback_refuses_outside_its_window_and_bad_requests(
    manager, approver, hr_coordinator, x_and_forum_with_a_phone_team, smtp_settings, settings, viewer
):
    settings.DUSK_ROLLBACK_WINDOW_HOURS = 1
    _plan, run, _before = _completed_hard_close(x_and_forum_with_a_phone_team, manager, approver, hr_coordinator)
    with pytest.raises(PermissionDenied):
        rollback_run(actor=viewer, run=run, reason="no")
    with pytest.raises(ValidationError, match="Say why"):
        rollback_run(actor=manager, run=run, reason=" ")
    with pytest.raises(InvalidTransition, match="window closed"):
        rollback_run(actor=manager, run=run, reason="late", now=timezone.now() + timedelta(hours=2))
    x_and_forum_with_a_phone_team["x"].refresh_from_db()
    assert x_and_forum_with_a_phone_team["x"].state == ChannelState.RETIRED
    rollback_run(actor=manager, run=run, reason="in time")
    with pytest.raises(InvalidTransition, match="already rolled back"):
        rollback_run(actor=manager, run=run, reason="twice")


def _regions(x_and_forum_with_a_phone_team):
    return [
        RegionInput("Americas", "America/Los_Angeles", (x_and_forum_with_a_phone_team["x"].pk,)),
        RegionInput("Europe", "Europe/Paris", (x_and_forum_with_a_phone_team["forum"].pk,)),
        RegionInput("Asia", "Asia/Jakarta", (x_and_forum_with_a_phone_team["jakarta"].pk,)),
    ]


@pytest.fixture
def three_regions(x_and_forum_with_a_phone_team):
    x_and_forum_with_a_phone_team["jakarta"] = ChannelFactory(kind="x", name="Brand on X Indonesia")
    ConversationFactory.create_batch(2, channel=x_and_forum_with_a_phone_team["jakarta"])
    return x_and_forum_with_a_phone_team


def test_follow_the_sun_gives_each_region_its_own_instant(manager, three_regions):
    x_and_forum_with_a_phone_team = three_regions
    regions = _regions(x_and_forum_with_a_phone_team)
    plan = create_plan(
        actor=manager,
        title="Retire social support worldwide",
        channel_ids=[
            x_and_forum_with_a_phone_team["x"].pk,
            x_and_forum_with_a_phone_team["forum"].pk,
            x_and_forum_with_a_phone_team["jakarta"].pk,
        ],
        regions=regions,
        phases=follow_the_sun("hard_close", date(2031, 10, 1), time(0, 0), regions),
        redirects=REDIRECTS,
        auto_replies=[AutoReplyInput("hard_close", "en", HARD_CLOSE_REPLY)],
    )
    instants = {p.region: p.instant.isoformat() for p in plan.phases.all()}
    # 1 October 00:00 local: Jakarta (UTC+7) first, then Paris (CEST, UTC+2), then Los Angeles (PDT, UTC-7).
    assert instants == {
        "Asia": "2031-09-30T17:00:00+00:00",
        "Europe": "2031-09-30T22:00:00+00:00",
        "Americas": "2031-10-01T07:00:00+00:00",
    }
    assert sorted(plan.plan_channels.values_list("region", flat=True)) == ["Americas", "Asia", "Europe"]


def test_follow_the_sun_reports_dst_problems_per_region_at_planning_time(manager, three_regions):
    x_and_forum_with_a_phone_team = three_regions
    regions = _regions(x_and_forum_with_a_phone_team)
    ids = [
        x_and_forum_with_a_phone_team["x"].pk,
        x_and_forum_with_a_phone_team["forum"].pk,
        x_and_forum_with_a_phone_team["jakarta"].pk,
    ]
    # 2031-03-30 02:30 does not exist in Paris (clocks jump 02:00 -> 03:00 on the last Sunday of March).
    with pytest.raises(ValidationError) as err:
        create_plan(
            actor=manager,
            title="Spring",
            channel_ids=ids,
            regions=regions,
            phases=follow_the_sun("hard_close", date(2031, 3, 30), time(2, 30), regions),
        )
    messages = err.value.message_dict["phases"]
    assert len(messages) == 1
    assert "Hard close, Europe" in messages[0] and "does not exist in Europe/Paris" in messages[0]
    # 2031-11-02 01:30 happens twice in Los Angeles (clocks go back 02:00 -> 01:00).
    with pytest.raises(ValidationError, match="happens twice in America/Los_Angeles"):
        create_plan(
            actor=manager,
            title="Autumn",
            channel_ids=ids,
            regions=regions,
            phases=follow_the_sun("hard_close", date(2031, 11, 2), time(1, 30), regions),
        )


def test_follow_the_sun_runs_each_region_in_turn_with_its_own_run(
    manager, approver, hr_coordinator, three_regions, smtp_settings
):
    x_and_forum_with_a_phone_team = three_regions
    regions = _regions(x_and_forum_with_a_phone_team)
    paris_team = TeamFactory(name="Social Paris")
    paris_team.channels.set([x_and_forum_with_a_phone_team["forum"]])
    paris_agent = AssignmentFactory(team=paris_team).agent
    plan = create_plan(
        actor=manager,
        title="Worldwide",
        channel_ids=[
            x_and_forum_with_a_phone_team["x"].pk,
            x_and_forum_with_a_phone_team["forum"].pk,
            x_and_forum_with_a_phone_team["jakarta"].pk,
        ],
        regions=regions,
        phases=follow_the_sun("hard_close", date(2031, 10, 1), time(0, 0), regions),
        redirects=REDIRECTS,
        auto_replies=[AutoReplyInput("hard_close", "en", HARD_CLOSE_REPLY)],
    )
    move_everyone(
        plan,
        hr_coordinator=hr_coordinator,
        agents=[paris_agent, *x_and_forum_with_a_phone_team["agents"]],
        to_team=x_and_forum_with_a_phone_team["phone"],
    )
    submit_and_approve(plan, manager=manager, approver=approver)
    order = []
    for phase in plan.phases.order_by("instant"):
        run_ids = claim_due_phases(now=phase.instant + timedelta(seconds=1))
        assert len(run_ids) == 1  # only this region is due
        assert run_cutover(run_id=run_ids[0], worker_id="t") in ("completed", "delivering")
        run = CutoverRun.objects.get(pk=run_ids[0])
        order.append((phase.region, run.conversations_moved, run.agents_reassigned))
        plan.refresh_from_db()
        if phase.region != "Americas":
            assert plan.state == PlanState.SCHEDULED
    # A region's run applies the moves of agents leaving teams that work its channels: the Paris
    # team and the social team (which works the forum too) both go with Europe, the first of
    # their regions to run.
    assert order == [("Asia", 2, 0), ("Europe", 3, 5), ("Americas", 9, 0)]
    plan.refresh_from_db()
    assert plan.state == PlanState.COMPLETED
    assert set(
        Channel.objects.filter(
            pk__in=[c.pk for c in x_and_forum_with_a_phone_team.values() if isinstance(c, Channel)]
        ).values_list("state", flat=True)
    ) == {ChannelState.RETIRED}
    assert (
        Assignment.objects.get(agent=paris_agent, ends_on__isnull=True).team == x_and_forum_with_a_phone_team["phone"]
    )


def test_regions_must_cover_every_channel_and_use_their_zone(manager, three_regions):
    x_and_forum_with_a_phone_team = three_regions
    with pytest.raises(ValidationError) as err:
        create_plan(
            actor=manager,
            title="Bad",
            channel_ids=[x_and_forum_with_a_phone_team["x"].pk, x_and_forum_with_a_phone_team["forum"].pk],
            regions=[RegionInput("Americas", "America/Los_Angeles", (x_and_forum_with_a_phone_team["x"].pk,))],
            phases=[PhaseInput("hard_close", date(2031, 10, 1), time(0), "Europe/Paris", "Americas")],
        )
    assert "missing" in err.value.message_dict["regions"][0]
    assert "must use the region's zone America/Los_Angeles" in err.value.message_dict["phases"][0]


def test_reminders_are_sent_once_per_offset_and_person(
    manager, approver, hr_coordinator, x_and_forum_with_a_phone_team, smtp_settings, settings
):
    settings.DUSK_REMINDER_OFFSETS = [7 * 86400, 86400]
    at = timezone.now() + timedelta(days=10)
    plan = hard_close_plan(
        manager=manager, channels=[x_and_forum_with_a_phone_team["x"], x_and_forum_with_a_phone_team["forum"]], at=at
    )
    move_everyone(
        plan,
        hr_coordinator=hr_coordinator,
        agents=x_and_forum_with_a_phone_team["agents"],
        to_team=x_and_forum_with_a_phone_team["phone"],
    )
    submit_and_approve(plan, manager=manager, approver=approver)
    # Approval happened before both reminder moments.
    assert queue_due_reminders(now=at - timedelta(days=8)) == 0
    moment = at - timedelta(days=6, hours=23)
    # Two beats (or a restarted one) queue the same reminders: no duplicates.
    assert queue_due_reminders(now=moment) == 6  # manager, approver, 4 agents
    assert queue_due_reminders(now=moment) == 0
    assert send_pending_reminders() == 6
    assert send_pending_reminders() == 0
    assert queue_due_reminders(now=at - timedelta(hours=23)) == 6
    assert send_pending_reminders() == 6
    recipients = [m.message["To"] for m in smtp_settings.messages]
    assert len(recipients) == 12
    assert sorted(set(recipients)) == sorted(
        {manager.email, approver.email, *(a.email for a in x_and_forum_with_a_phone_team["agents"])}
    )
    assert "In 7 days" in smtp_settings.messages[0].message["Subject"]
    assert Reminder.objects.filter(state="sent").count() == 12
    assert plan.phases.get().state == PhaseState.SCHEDULED


def test_reminders_whose_moment_passed_before_approval_are_skipped(
    manager, approver, hr_coordinator, x_and_forum_with_a_phone_team, smtp_settings, settings
):
    settings.DUSK_REMINDER_OFFSETS = [7 * 86400, 86400]
    at = timezone.now() + timedelta(days=3)  # approved 3 days ahead: the 7-day reminder never applies
    # Retiring X alone leaves Social care half its work: its agents are told, not moved.
    plan = hard_close_plan(manager=manager, channels=[x_and_forum_with_a_phone_team["x"]], at=at)
    submit_and_approve(plan, manager=manager, approver=approver)
    assert queue_due_reminders(now=timezone.now() + timedelta(hours=1)) == 0
    assert queue_due_reminders(now=at - timedelta(hours=20)) == 6
    assert set(Reminder.objects.values_list("offset_seconds", flat=True)) == {86400}


def test_a_rolled_back_run_reads_in_words_and_its_plan_can_be_copied_into_a_new_draft(
    client, manager, approver, hr_coordinator, x_and_forum_with_a_phone_team, smtp_settings
):
    plan, run, _before = _completed_hard_close(x_and_forum_with_a_phone_team, manager, approver, hr_coordinator)
    rollback_run(actor=manager, run=run, reason="Phone queue overloaded")
    client.force_login(manager)
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert "Rolled back" in page and "Phone queue overloaded" in page and manager.get_username() in page
    assert "channels_restored" not in page and "handoffs_already_sent" not in page
    assert "2 channels restored" in page
    # Nothing was sent: the summary says so, and does not claim notices reached anyone.
    assert "had already reached" not in page
    event = AuditEvent.objects.filter(action="run.rolled_back").get()
    x = x_and_forum_with_a_phone_team["x"]
    assert event.before["channels"][str(x.pk)]["state"] == ChannelState.RETIRED
    assert event.after["channels"][str(x.pk)]["state"] == ChannelState.ACTIVE
    plan.refresh_from_db()
    copy = copy_plan_into_draft(actor=manager, plan=plan)
    assert copy.state == PlanState.DRAFT and copy.author == manager
    assert set(copy.channels.all()) == set(plan.channels.all())
    assert copy.auto_replies.count() == plan.auto_replies.count()
    assert copy.phases.get().instant > timezone.now()
    response = client.post(reverse("plan_copy", args=[plan.pk]))
    assert response.status_code == 302
