"""Agent emails sent by real Celery workers on PostgreSQL and the real broker."""

import time
from datetime import date

import pytest
from django.db import transaction

from channels_app.models import AgentNotice, Assignment, NoticeState, Reassignment, ReassignmentState
from channels_app.tests.support.factories import AgentFactory, ChannelFactory, TeamFactory
from channels_app.tests.support.helpers import hard_close_plan, mail_without_plan_notices, submit_and_approve, wait_for
from channels_app.workforce.services.moves import assign_agents, notify_agents

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_two_workers_email_each_agent_exactly_once(manager, approver, hr_coordinator, smtp_settings, celery_workers):
    n_agents = 30
    x = ChannelFactory(kind="x", name="Brand on X")
    social = TeamFactory(name="Social care")
    social.channels.set([x])
    phone = TeamFactory(name="Phone", capacity=n_agents)
    agents = AgentFactory.create_batch(n_agents)
    Assignment.objects.bulk_create([Assignment(agent=a, team=social, starts_on=date(2024, 1, 1)) for a in agents])
    plan = hard_close_plan(manager=manager, channels=[x])
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=[a.pk for a in agents], to_team=phone, confirm=True)
    plan = submit_and_approve(plan, manager=manager, approver=approver)  # agents hear once it is approved
    # Both workers' beats also sweep for unsent notices every half second, racing the task.
    fast_sweep = {"DUSK_NOTICE_SWEEP_INTERVAL": "0.5", "DUSK_EMAIL_BATCH": "4"}
    first, second = celery_workers("first", **fast_sweep), celery_workers("second", **fast_sweep)
    first.wait_ready()
    second.wait_ready()

    with transaction.atomic():  # the task is queued when this commits
        result = notify_agents(actor=hr_coordinator, plan=plan)
    assert result.queued == n_agents

    wait_for(
        lambda: AgentNotice.objects.filter(state=NoticeState.SENT).count() == n_agents,
        timeout=40,
        message=f"every notice to be sent\n{first.log()[-2000:]}\n{second.log()[-2000:]}",
    )
    time.sleep(1.5)  # a few more sweeps: nothing is left to send, nothing goes out twice
    agent_mail = mail_without_plan_notices(smtp_settings)  # the approval also tells the plan's owners
    recipients = [m.message["To"] for m in agent_mail]
    assert sorted(recipients) == sorted(a.email for a in agents)
    assert len({m.message["Message-ID"] for m in agent_mail}) == n_agents
    assert set(Reassignment.objects.values_list("state", flat=True)) == {ReassignmentState.NOTIFIED}
