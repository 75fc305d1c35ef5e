"""Plan reads: the impact the plan and review pages show."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from channels_app.plans.selectors import placeholder_values, plan_for_page, plan_impact
from channels_app.tests.support.factories import (
    AgentFactory,
    AssignmentFactory,
    ChannelFactory,
    PlanChannelFactory,
    ReassignmentFactory,
    SunsetPlanFactory,
    TeamFactory,
)
from channels_app.tests.support.helpers import hard_close_plan

pytestmark = pytest.mark.django_db


def test_plan_impact_counts_each_affected_agent_once(manager):
    # A team working two of the plan's channels, three agents on it; one of them has a move in
    # this plan and in another, one only in the other plan.
    x, forum = ChannelFactory(kind="x"), ChannelFactory(kind="discourse")
    social, phone = TeamFactory(name="Social"), TeamFactory(name="Phone")
    social.channels.set([x, forum])
    plan, other = SunsetPlanFactory(author=manager), SunsetPlanFactory(author=manager)
    PlanChannelFactory(plan=plan, channel=x, is_open=False)
    PlanChannelFactory(plan=plan, channel=forum, is_open=False)
    moved_twice, moved_elsewhere, waiting = AgentFactory(), AgentFactory(), AgentFactory()
    for agent in (moved_twice, moved_elsewhere, waiting):
        AssignmentFactory(agent=agent, team=social)
    ReassignmentFactory(plan=plan, agent=moved_twice, from_team=social, to_team=phone)
    ReassignmentFactory(plan=other, agent=moved_twice, from_team=social, to_team=phone)
    ReassignmentFactory(plan=other, agent=moved_elsewhere, from_team=social, to_team=phone)

    impact = plan_impact(plan_for_page(plan.pk))

    assert impact.agents_affected == 3
    assert impact.agents_without_destination == 2
    assert impact.reassignments_by_state == {"proposed": 1}


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Reassignments: 1 proposed, 150 done"),
        ("fr", "Réaffectations : 1 proposée, 150 terminées"),
        ("id", "Penugasan ulang: 1 diusulkan, 150 selesai"),
    ],
)
def test_reassignment_counts_take_the_plural_form_of_the_readers_language(client, manager, language, expected):
    social, phone = TeamFactory(name="Social"), TeamFactory(name="Phone")
    plan = SunsetPlanFactory(author=manager)
    ReassignmentFactory(plan=plan, agent=AgentFactory(), from_team=social, to_team=phone)
    for _ in range(150):
        ReassignmentFactory(plan=plan, agent=AgentFactory(), from_team=social, to_team=phone, state="done")
    client.force_login(manager)
    client.cookies["django_language"] = language
    html = client.get(reverse("plan_detail", args=[plan.pk])).content.decode()
    assert expected in " ".join(html.split())


def test_the_date_placeholder_is_written_in_the_replys_language(manager):
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory()], at=datetime(2027, 10, 1, 9, 0, tzinfo=UTC))
    plan = plan_for_page(plan.pk)
    assert placeholder_values(plan, locale="en")["date"] == "1 October 2027"
    assert placeholder_values(plan, locale="fr")["date"] == "1 octobre 2027"
    assert placeholder_values(plan, locale="id")["date"] == "1 Oktober 2027"
    assert placeholder_values(plan, locale="pt-BR")["date"] == "1 Outubro 2027"  # Django's month names
