"""Queues (CELERY_TASK_ROUTES, docs/scaling.md): a due cutover does not wait behind a backlog of
replies. Real workers, one per queue, on the broker CELERY_BROKER_URL names (.ci/run runs this
module on Redis and on RabbitMQ)."""

from datetime import date, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from channels_app.core.queue import SEND_DUE_REPLIES
from channels_app.models import Assignment, Conversation, CutoverRun, PhaseState, RunState
from channels_app.tests.support.factories import AgentFactory, ChannelFactory, TeamFactory
from channels_app.tests.support.helpers import hard_close_plan, move_everyone, submit_and_approve, wait_for
from portal.celery import app as current_app

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BACKLOG = 50_000


def _route(task_name: str) -> str:
    return current_app.amqp.router.route({}, task_name)["queue"].name


def _queue_length(queue: str) -> int:
    with current_app.connection_for_write() as conn:
        return conn.default_channel.queue_declare(queue=queue, passive=True).message_count


def _queue_reply_backlog(n: int) -> None:
    """n sender tasks on the replies queue, as a burst of webhooks and retries leaves them."""
    with current_app.producer_or_acquire() as producer:
        for _ in range(n):
            current_app.send_task(SEND_DUE_REPLIES, producer=producer)


def test_every_task_has_its_queue_and_the_queues_are_declared():
    assert settings.DUSK_QUEUES == ["cutover", "replies", "polling", "email", "celery"]
    assert {queue.name for queue in settings.CELERY_TASK_QUEUES} == set(settings.DUSK_QUEUES)
    assert {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} <= set(settings.DUSK_QUEUES)
    expected = {
        "channels_app.tasks.sweep_due_phases_task": "cutover",
        "channels_app.tasks.run_cutover_task": "cutover",
        "channels_app.tasks.reap_stuck_runs_task": "cutover",
        "channels_app.tasks.publish_run_changes_task": "cutover",
        "channels_app.inbound_tasks.send_due_replies_task": "replies",
        "channels_app.inbound_tasks.poll_youtube_task": "polling",
        "channels_app.inbound_tasks.poll_youtube_channel_task": "polling",
        "channels_app.inbound_tasks.poll_email_task": "polling",
        "channels_app.inbound_tasks.poll_email_channel_task": "polling",
        "channels_app.tasks.send_reminders_task": "email",
        "channels_app.tasks.send_agent_notices_task": "email",
        "channels_app.tasks.send_agent_messages_task": "email",
        "channels_app.tasks.send_run_emails_task": "email",
        "channels_app.tasks.send_owner_notices_task": "email",
        "channels_app.tasks.send_plan_notices_task": "email",
        "channels_app.tasks.send_handoffs_task": "replies",
        "channels_app.tasks.watchdog_task": "celery",
    }
    current_app.loader.import_default_modules()  # the tasks.py modules, as a worker imports them
    registered = {name for name in current_app.tasks if name.startswith("channels_app.")}
    assert registered == set(expected), "a new task needs its queue here and in CELERY_TASK_ROUTES"
    assert {name: _route(name) for name in expected} == expected
    # Every periodic task goes to a queue some worker layout consumes.
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert _route(entry["task"]) in settings.DUSK_QUEUES


def test_a_due_cutover_starts_on_time_behind_a_backlog_of_50000_replies(
    manager, approver, hr_coordinator, smtp_settings, celery_workers
):
    x = ChannelFactory(kind="x", name="Brand on X")
    social = TeamFactory(name="Social care")
    social.channels.set([x])
    phone = TeamFactory(name="Phone", capacity=20)
    agents = AgentFactory.create_batch(3)
    Assignment.objects.bulk_create([Assignment(agent=a, team=social, starts_on=date(2024, 1, 1)) for a in agents])
    now = timezone.now()
    Conversation.objects.bulk_create(
        Conversation(
            channel=x,
            # Tweet and user ids as X gives them: the hand-off notices are real replies to tweets.
            platform_thread_id=str(1_800_000_000_000_000_000 + i),
            customer_id=str(700_000 + i),
            opened_at=now,
            last_message_at=now,
            reference=f"DSK-Q{i:07d}",
        )
        for i in range(30)
    )
    _queue_reply_backlog(BACKLOG)
    # RabbitMQ counts a published message once it has routed it, a moment after the publish returns.
    wait_for(lambda: _queue_length("replies") >= BACKLOG, timeout=30, message="the backlog in the replies queue")
    # One worker per queue: replies (busy with the backlog) and cutover, which embeds the beat.
    replies = celery_workers("replies", queues="replies", beat=False)
    cutover = celery_workers("cutover", queues="cutover")
    replies.wait_ready()
    cutover.wait_ready()

    plan = hard_close_plan(manager=manager, channels=[x], at=timezone.now() + timedelta(seconds=3))
    move_everyone(plan, hr_coordinator=hr_coordinator, agents=agents, to_team=phone)
    submit_and_approve(plan, manager=manager, approver=approver)

    # Its database steps done, the run is Delivering (its hand-off notices go out through the
    # replies queue, behind the backlog) or already Completed.
    try:
        run = wait_for(
            lambda: CutoverRun.objects.filter(plan=plan, state__in=[RunState.DELIVERING, RunState.COMPLETED]).first(),
            timeout=60,
            message="cutover to finish its database steps",
        )
    except AssertionError as exc:
        runs = list(CutoverRun.objects.filter(plan=plan).values("state", "errors"))
        raise AssertionError(f"{exc}; runs {runs}, phase {plan.phases.get().state}\n{cutover.log()[-3000:]}") from None
    phase = plan.phases.get()
    assert phase.state == PhaseState.COMPLETED
    assert run.conversations_moved == 30
    assert run.started_at >= phase.instant
    assert (run.started_at - phase.instant).total_seconds() < 5
    assert run.worker_id.startswith("cutover@")
    # The replies worker was working the backlog all along, and most of it is still waiting: the
    # run did not queue behind it.
    assert BACKLOG // 2 < _queue_length("replies") < BACKLOG
