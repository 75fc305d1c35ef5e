"""Phases due together, with real workers: every worker was stopped while a plan's notice, soft
close and hard close fell due; then two workers (one with beat) start at once.

The channels must end retired, the audit trail must never show a channel's state moving
backwards, the notice and soft close must be recorded as superseded by the hard close, and a
tweet delivered afterwards must get the hard-close reply. `make phase-order` repeats it 20 times
(DUSK_PHASE_ORDER_TRIALS) and prints a RESULT line.
"""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.audit.services import verify_chain
from channels_app.cutover.services.engine import CHANNEL_STATES_IN_ORDER
from channels_app.models import (
    AuditEvent,
    ChannelState,
    Conversation,
    CutoverRun,
    Message,
    Phase,
    PhaseState,
    PlanState,
    RunState,
)
from channels_app.plans.services.plans import AutoReplyInput
from channels_app.tests.support.fakeplatforms import build_tweet
from channels_app.tests.support.helpers import hard_close_plan, submit_and_approve, utc_phase, wait_for
from channels_app.tests.support.inbound_helpers import platform_channel, post_x

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

NOTICE = "Until {date} we are happy to help here; then call {phone}."
SOFT = "We no longer open new cases here: call {phone}."
HARD = "Support moved for good: call {phone} or visit {redirect_url} (ref {reference})."


def _channel_with_customers(fake_x, trial: int, n: int):
    x = platform_channel("x", fake_x.base_url, name=f"Brand on X {trial}", platform_account_id="783214")
    now = timezone.now()
    for i in range(n):
        conversation = Conversation.objects.create(
            channel=x,
            platform_thread_id=f"t{trial}-{i}",
            customer_id=f"c{trial}-{i % (n // 2 or 1)}",  # some customers have two conversations
            customer_handle=f"@c{i}",
            opened_at=now,
            last_message_at=now,
            reference=f"DSK-P{trial:03d}{i:04d}",
        )
        Message.objects.create(
            channel=x,
            conversation=conversation,
            platform_message_id=str(1_700_000_000_000_000_000 + trial * 10_000 + i),
            direction="in",
            author_id=conversation.customer_id,
            text="@brand where is my order?",
            lang="en",
            created_at=now,
        )
    return x


def _plan_all_due(manager, approver, channels):
    later = timezone.now() + timedelta(days=3)
    plan = hard_close_plan(
        manager=manager,
        channels=channels,
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
    # The workers are down while all three fall due.
    now = timezone.now()
    for offset, kind in enumerate(["notice", "soft_close", "hard_close"]):
        Phase.objects.filter(plan=plan, kind=kind).update(instant=now - timedelta(seconds=3 - offset))
    return plan


def _backwards_moves(channel_ids: set[int]) -> list[str]:
    """Every channel-state change in the audit trail, in order; a move to an earlier state is a finding."""
    rank = {state: i for i, state in enumerate(CHANNEL_STATES_IN_ORDER)}
    last: dict[int, str] = {}
    found = []
    for event in AuditEvent.objects.filter(action="channels.state_changed").order_by("id"):
        for channel_id in event.after["channels"]:
            if channel_id not in channel_ids:
                continue
            state = event.after["state"]
            if channel_id in last and rank[state] < rank[last[channel_id]]:
                found.append(f"channel {channel_id}: {last[channel_id]} -> {state} (event {event.pk})")
            last[channel_id] = state
    return found


def test_phases_due_together_run_in_order_with_two_workers(
    client, manager, approver, smtp_settings, platform_secrets, fake_x, celery_workers
):
    trials = int(os.environ.get("DUSK_PHASE_ORDER_TRIALS", "1"))
    failures: dict[str, int] = {"backwards": 0, "not_superseded": 0, "not_retired": 0, "wrong_reply": 0}
    fast = {"DUSK_OUTBOX_SWEEP_INTERVAL": "0.5"}
    for trial in range(trials):
        channels = [_channel_with_customers(fake_x, trial * 2 + k, 6) for k in range(2)]
        plan = _plan_all_due(manager, approver, channels)
        with_beat = celery_workers(f"beat{trial}", **fast)
        plain = celery_workers(f"plain{trial}", beat=False, **fast)
        with_beat.wait_ready()
        plain.wait_ready()
        hard = wait_for(
            lambda plan=plan: CutoverRun.objects.filter(
                plan=plan, phase__kind="hard_close", state=RunState.COMPLETED
            ).first(),
            timeout=90,
            message=f"the hard close to complete\n{with_beat.log()[-2000:]}\n{plain.log()[-2000:]}",
        )
        plan.refresh_from_db()
        assert plan.state == PlanState.COMPLETED
        ids = {c.pk for c in channels}
        for channel in channels:
            channel.refresh_from_db()
            failures["not_retired"] += channel.state != ChannelState.RETIRED
        failures["backwards"] += len(_backwards_moves(ids))
        for kind in ("notice", "soft_close"):
            run = CutoverRun.objects.get(plan=plan, phase__kind=kind)
            superseded = (
                run.state == RunState.SKIPPED
                and run.superseded_by_id == hard.phase_id
                and run.phase.state == PhaseState.SKIPPED
            )
            failures["not_superseded"] += not superseded
        # One notice per customer and channel: 3 customers on each channel.
        assert hard.handoffs_queued == 6
        # A tweet delivered afterwards gets the hard-close reply.
        tweet_id = str(1_900_000_000_000_000_000 + trial)
        response = post_x(client, channels[0], [build_tweet(tweet_id, "@brand anyone there?", "777", "late")])
        assert response.status_code == 200
        replies = wait_for(
            lambda tweet_id=tweet_id: fake_x.replies_to(tweet_id),
            timeout=30,
            message=f"the reply to the late tweet\n{with_beat.log()[-2000:]}",
        )
        failures["wrong_reply"] += not (len(replies) == 1 and replies[0]["text"].startswith("Support moved for good"))
        with_beat.stop()
        plain.stop()
    print(
        f"RESULT phase_order_trials={trials} backwards={failures['backwards']} "
        f"not_superseded={failures['not_superseded']} not_retired={failures['not_retired']} "
        f"wrong_reply={failures['wrong_reply']} target=all_zero"
    )
    assert failures == {"backwards": 0, "not_superseded": 0, "not_retired": 0, "wrong_reply": 0}
    assert verify_chain() == []
