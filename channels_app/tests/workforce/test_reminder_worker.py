"""Reminders to agents who have not answered, written and sent by two real Celery workers (each
with its beat) on PostgreSQL and the real broker, one of them SIGKILLed mid-batch: each unanswered
agent gets each reminder exactly once, and after the last is listed as needing a conversation."""

import time
from collections import Counter
from datetime import date

import pytest
from django.utils import timezone

from channels_app.models import (
    AgentAnswer,
    AgentMessage,
    AgentNotice,
    AnswerKind,
    Assignment,
    NotificationState,
    Reassignment,
)
from channels_app.tests.support.factories import AgentFactory, ChannelFactory, TeamFactory
from channels_app.tests.support.helpers import hard_close_plan, submit_and_approve, wait_for
from channels_app.workforce.selectors import acknowledgements
from channels_app.workforce.services.moves import assign_agents, notify_agents, send_agent_notices

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_each_unanswered_agent_gets_each_reminder_exactly_once_though_a_worker_dies(
    manager, approver, hr_coordinator, smtp_settings, celery_workers, settings
):
    n_agents = 16
    x = ChannelFactory(kind="x", name="Brand on X")
    social = TeamFactory(name="Social care")
    social.channels.set([x])
    phone = TeamFactory(name="Phone", capacity=n_agents)
    agents = AgentFactory.create_batch(n_agents)
    Assignment.objects.bulk_create([Assignment(agent=a, team=social, starts_on=date(2024, 1, 1)) for a in agents])
    plan = hard_close_plan(manager=manager, channels=[x])
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=[a.pk for a in agents], to_team=phone, confirm=True)
    plan = submit_and_approve(plan, manager=manager, approver=approver)
    notify_agents(actor=hr_coordinator, plan=plan)
    assert send_agent_notices() == n_agents
    # One agent answered at once: no reminder for her.
    answered = Reassignment.objects.get(agent=agents[0])
    AgentAnswer.objects.create(
        reassignment=answered, about_team_id=answered.to_team_id, answer=AnswerKind.ACCEPTED, answered_at=timezone.now()
    )
    waiting = [a.email for a in agents[1:]]
    AgentNotice.objects.update(sent_at=timezone.now())  # the offsets count from here
    smtp_settings.messages.clear()
    smtp_settings.data_delay = 0.15  # each message takes a while: a batch is in flight for long

    offsets = {"DUSK_AGENT_REMINDER_OFFSETS": "1s,3s"}
    settings.DUSK_AGENT_REMINDER_OFFSETS = [1, 3]
    timing = {
        **offsets,
        "DUSK_AGENT_REMINDER_INTERVAL": "0.5",
        "DUSK_EMAIL_BATCH": "6",
        "DUSK_EMAIL_PARALLEL": "3",
        # A batch the dead worker had claimed is taken over this soon.
        "DUSK_RUN_STUCK_AFTER": "4",
    }
    first, second = celery_workers("first", **timing), celery_workers("second", **timing)
    first.wait_ready()
    second.wait_ready()

    def reminders() -> list:
        return [m for m in smtp_settings.messages if "dusk-agent-message-" in (m.message["Message-ID"] or "")]

    wait_for(lambda: len(reminders()) >= 4, timeout=60, message=f"the first reminders\n{first.log()[-3000:]}")
    first.kill()  # SIGKILL, in the middle of a batch
    killed_at = len(reminders())
    expected = 2 * len(waiting)
    wait_for(
        lambda: AgentMessage.objects.filter(state=NotificationState.SENT).count() == expected,
        timeout=90,
        interval=0.5,
        message=f"every reminder to be sent\n{second.log()[-3000:]}",
    )
    time.sleep(2)  # more sweeps: nothing more is written or sent
    mail = reminders()
    assert killed_at < expected  # the kill came mid-way
    assert len(mail) == expected, Counter(m.message["To"] for m in mail)
    assert len({m.message["Message-ID"] for m in mail}) == expected
    assert Counter(m.message["To"] for m in mail) == dict.fromkeys(waiting, 2)
    assert AgentMessage.objects.count() == expected
    assert set(AgentMessage.objects.values_list("key", flat=True)) == {"reminder:1", "reminder:3"}
    ack = acknowledgements(plan)
    assert (ack.accepted, ack.no_answer, ack.needs_conversation) == (1, len(waiting), len(waiting))
