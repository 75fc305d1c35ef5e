"""Real Celery workers (with embedded beat) on PostgreSQL and the real broker."""

import os
from datetime import date, timedelta

import pytest
from django.db.models import Count, Q
from django.utils import timezone

from channels_app.audit.services import verify_chain
from channels_app.models import (
    Agent,
    Assignment,
    AuditEvent,
    ChannelState,
    Conversation,
    ConversationState,
    CutoverRun,
    Message,
    Notification,
    OutboxMessage,
    PhaseState,
    PlanState,
    RunState,
)
from channels_app.tests.support.factories import AgentFactory, TeamFactory
from channels_app.tests.support.helpers import (
    hard_close_plan,
    mail_without_plan_notices,
    submit_and_approve,
    wait_for,
)
from channels_app.tests.support.inbound_helpers import platform_channel
from channels_app.workforce.services.moves import assign_agents

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _world(n_conversations: int, n_agents: int, base_url: str):
    x = platform_channel("x", base_url, name="Brand on X")
    social = TeamFactory(name="Social care")
    social.channels.set([x])
    phone = TeamFactory(name="Phone", capacity=n_agents + 10)
    agents = AgentFactory.create_batch(n_agents)
    Assignment.objects.bulk_create([Assignment(agent=a, team=social, starts_on=date(2024, 1, 1)) for a in agents])
    now = timezone.now()
    Conversation.objects.bulk_create(
        [
            Conversation(
                channel=x,
                platform_thread_id=f"t{i}",
                customer_id=f"c{i}",
                customer_handle=f"@c{i}",
                opened_at=now,
                last_message_at=now,
                reference=f"DSK-T{i:07d}",
            )
            for i in range(n_conversations)
        ]
    )
    # Each conversation's customer wrote a tweet: the hand-off notice answers it.
    Message.objects.bulk_create(
        [
            Message(
                channel=x,
                conversation=c,
                platform_message_id=str(1_800_000_000_000_000_000 + c.pk),
                direction="in",
                author_id=c.customer_id,
                text="@brand where is my order?",
                lang="en",
                created_at=now,
            )
            for c in Conversation.objects.filter(channel=x)
        ]
    )
    return x, phone, agents


def _move_everyone(plan, agents, phone, hr_coordinator):
    """HR sends every agent to the phone team (one bulk move, confirmed), as the submit guard requires."""
    assign_agents(
        actor=hr_coordinator,
        plan=plan,
        agent_ids=[a.pk for a in agents],
        to_team=phone,
        effective_date=plan.phases.get().local_date,
        confirm=True,
    )


def test_worker_runs_an_approved_plan_at_its_instant(
    manager, approver, hr_coordinator, smtp_settings, platform_secrets, fake_x, celery_workers
):
    x, phone, agents = _world(n_conversations=40, n_agents=5, base_url=fake_x.base_url)
    worker = celery_workers("w1")
    worker.wait_ready()

    instant = timezone.now() + timedelta(seconds=10)  # submission and approval test the platform live first
    plan = hard_close_plan(manager=manager, channels=[x], at=instant)
    _move_everyone(plan, agents, phone, hr_coordinator)
    submit_and_approve(plan, manager=manager, approver=approver)

    run = wait_for(
        lambda: CutoverRun.objects.filter(plan=plan, state=RunState.COMPLETED).first(),
        timeout=60,
        message=f"cutover to complete (every hand-off notice delivered)\n{worker.log()[-3000:]}",
    )
    plan.refresh_from_db()
    x.refresh_from_db()
    phase = plan.phases.get()
    assert plan.state == PlanState.COMPLETED
    assert phase.state == PhaseState.COMPLETED
    assert x.state == ChannelState.RETIRED
    # Not before its instant, and promptly after it.
    assert run.started_at >= phase.instant
    assert (run.started_at - phase.instant).total_seconds() < 5
    assert run.conversations_moved == 40
    # "Completed" means delivered: every customer's notice reached the platform.
    assert len(fake_x.tweets) == 40 == OutboxMessage.objects.filter(created_by_run=run, state="sent").count()
    assert run.delivered_at is not None
    assert Conversation.objects.filter(state=ConversationState.REDIRECTED).count() == 40
    assert run.agents_reassigned == 5
    assert Assignment.objects.filter(team=phone, ends_on__isnull=True).count() == 5
    assert run.notifications_sent == 7
    assert len(mail_without_plan_notices(smtp_settings)) == 7
    assert run.worker_id.startswith("w1@")
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-1] == "run.completed"
    assert "phase.claimed" in actions
    assert verify_chain() == []


def test_killed_worker_mid_cutover_is_finished_by_another_without_doing_anything_twice(
    manager, approver, hr_coordinator, smtp_settings, platform_secrets, fake_x, celery_workers
):
    total, n_agents = 3000, 40
    x, phone, agents = _world(n_conversations=total, n_agents=n_agents, base_url=fake_x.base_url)
    slow = {"DUSK_CHUNK_SIZE": "100", "DUSK_CHUNK_PAUSE": "0.15", "DUSK_RUN_STUCK_AFTER": "3"}
    first = celery_workers("first", **slow)
    first.wait_ready()

    plan = hard_close_plan(manager=manager, channels=[x], at=timezone.now() + timedelta(seconds=3))
    _move_everyone(plan, agents, phone, hr_coordinator)
    submit_and_approve(plan, manager=manager, approver=approver)

    wait_for(
        lambda: CutoverRun.objects.filter(plan=plan, conversations_moved__gte=500).exists(),
        timeout=40,
        message=f"the first worker to be mid-way\n{first.log()[-3000:]}",
    )
    first.kill()
    run = CutoverRun.objects.get(plan=plan)
    assert run.state == RunState.RUNNING
    assert 500 <= run.conversations_moved < total  # really killed in the middle
    moved_before_kill = run.conversations_moved

    second = celery_workers("second", **slow)
    run = wait_for(
        lambda: CutoverRun.objects.filter(plan=plan, state=RunState.COMPLETED).first(),
        timeout=150,
        message=f"the second worker to finish\n{second.log()[-3000:]}",
    )
    assert run.attempts == 2
    assert run.worker_id.startswith("second@")
    # Every conversation moved exactly once, each with exactly one hand-off notice.
    assert Conversation.objects.filter(state=ConversationState.REDIRECTED, moved_by_run=run).count() == total
    assert run.conversations_moved == total
    assert moved_before_kill < run.conversations_moved
    handoffs = OutboxMessage.objects.filter(kind="handoff")
    assert handoffs.count() == total == run.handoffs_queued
    assert handoffs.values("conversation_id").distinct().count() == total
    # Every agent: one ended assignment, one open one, no duplicates.
    per_agent = Assignment.objects.values("agent_id").annotate(
        n=Count("id"), open=Count("id", filter=Q(ends_on__isnull=True))
    )
    assert all(row["n"] == 2 and row["open"] == 1 for row in per_agent)
    assert Assignment.objects.filter(team=phone, ends_on__isnull=True).count() == n_agents
    assert run.agents_reassigned == n_agents
    # Every email once: agents, author and approver.
    run_mail = mail_without_plan_notices(smtp_settings)
    ids = [m.message["Message-ID"] for m in run_mail]
    assert len(ids) == len(set(ids)) == n_agents + 2 == Notification.objects.filter(state="sent").count()
    assert sorted(m.message["To"] for m in run_mail) == sorted(
        [*Agent.objects.values_list("email", flat=True), manager.email, approver.email]
    )
    # Who handed the run to the second worker: on Redis the reaper (the dead worker's message waits
    # out the visibility timeout); on RabbitMQ the broker itself, which returns an unacknowledged
    # message as soon as its consumer's connection drops (the reaper may have re-queued it too).
    requeued = AuditEvent.objects.filter(action="run.requeued").count()
    if os.environ["CELERY_BROKER_URL"].startswith("redis://"):
        assert requeued == 1
    else:
        assert requeued <= 1
    assert verify_chain() == []
