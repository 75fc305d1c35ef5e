"""Who a plan affects, where they can go, what still blocks the plan, and the staffing check."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.models import Agent, Team
from channels_app.tests.support.factories import (
    AgentFactory,
    AssignmentFactory,
    ChannelFactory,
    PlanStaffingFactory,
    TeamFactory,
)
from channels_app.tests.support.helpers import hard_close_plan
from channels_app.tests.support.workforce_helpers import inbound, world_plan
from channels_app.workforce.selectors import (
    affected_agents,
    destination_problems,
    destinations,
    notice_language,
    relocation,
    staffing_check,
    team_work,
)
from channels_app.workforce.services.moves import assign_agents, confirm_moves

pytestmark = pytest.mark.django_db


def _names(agents) -> list[str]:
    return sorted(a.name for a in agents)


def test_agents_of_teams_that_only_work_retiring_channels_are_affected(world, plan):
    agents = affected_agents(plan)
    assert _names(agents) == ["Amélie", "Bruno", "Chen", "Dewi", "Eko"]
    from_team = {a.name: a.from_team_id for a in agents}
    assert from_team["Amélie"] == world.social_paris.pk
    assert from_team["Dewi"] == world.social_jakarta.pk


def test_a_team_is_affected_when_its_share_of_inbound_volume_exceeds_the_threshold(world, plan, manager):
    hybrid = TeamFactory(name="Hybrid")
    hybrid.channels.set([world.x, world.phone])
    agent = AgentFactory(name="Hana Hybrid")
    AssignmentFactory(agent=agent, team=hybrid, starts_on=timezone.localdate())
    # 30 messages on X (retiring) and 10 on the phone channel: 75% of its work retires.
    inbound(world.x, 30)
    inbound(world.phone, 10)
    work = {w.name: w for w in team_work(plan)}
    assert work["Hybrid"].basis == "volume"
    assert work["Hybrid"].share == pytest.approx(0.75)
    assert work["Hybrid"].affected
    assert "Hana Hybrid" in _names(affected_agents(plan))
    # At a threshold of 80% the same team keeps its agents.
    PlanStaffingFactory(plan=plan, affected_share_threshold=0.8)
    assert not {w.name: w for w in team_work(plan)}["Hybrid"].affected
    assert "Hana Hybrid" not in _names(affected_agents(plan))


def test_messages_outside_the_window_do_not_count(world, plan):
    hybrid = TeamFactory(name="Hybrid")
    hybrid.channels.set([world.x, world.phone])
    inbound(world.x, 30, at=timezone.now() - timedelta(days=40))  # before the 28-day window
    inbound(world.phone, 10)
    work = {w.name: w for w in team_work(plan)}["Hybrid"]
    assert (work.retiring_volume, work.volume, work.share) == (0, 10, 0.0)


def test_without_volume_the_share_is_the_share_of_channels_and_half_is_not_more_than_half(world, plan):
    # Hybrid works X (retiring) and the phone: 1 of 2 channels, no messages at all.
    hybrid = TeamFactory(name="Hybrid")
    hybrid.channels.set([world.x, world.phone])
    work = {w.name: w for w in team_work(plan)}["Hybrid"]
    assert work.basis == "channels"
    assert work.share == 0.5
    assert not work.affected  # the threshold is "more than 50%"


def test_inactive_agents_are_not_affected(world, plan):
    Agent.objects.filter(pk=world.agents["Chen"].pk).update(is_active=False)
    assert "Chen" not in _names(affected_agents(plan))


def test_destinations_are_teams_off_the_retiring_channels_with_their_free_seats(world, plan):
    teams = {t.name: t for t in destinations(plan)}
    assert set(teams) == {"Phone EMEA", "Phone APAC", "Web desk"}
    emea = teams["Phone EMEA"]
    assert (emea.capacity, emea.occupied, emea.incoming_confirmed, emea.free, emea.solver_free) == (5, 2, 0, 3, 3)
    assert teams["Web desk"].free == 0


def test_a_team_leaving_with_another_open_plan_is_not_a_destination(world, plan, manager):
    chat = ChannelFactory(kind="chat", name="Old chat")
    leaving = TeamFactory(name="Chat team")
    leaving.channels.set([chat])
    assert "Chat team" in {t.name for t in destinations(plan)}
    hard_close_plan(manager=manager, channels=[chat], title="Retire chat")
    assert "Chat team" not in {t.name for t in destinations(plan)}


def test_seats_count_open_assignments_and_confirmed_moves_from_every_open_plan(world, plan, manager, hr_coordinator):
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Amélie", "Bruno"), to_team=world.phone_emea)
    [emea] = destinations(plan, Team.objects.filter(pk=world.phone_emea.pk))
    # Proposed moves of this plan hold seats on the board but not for the solver.
    assert (emea.plan_proposed, emea.plan_confirmed, emea.after, emea.free, emea.solver_free) == (2, 0, 4, 1, 3)
    confirm_moves(actor=hr_coordinator, plan=plan)
    [emea] = destinations(plan, Team.objects.filter(pk=world.phone_emea.pk))
    assert (emea.plan_confirmed, emea.incoming_confirmed, emea.after, emea.free, emea.solver_free) == (2, 2, 4, 1, 1)


def test_problems_name_each_agent_without_a_confirmed_destination(world, plan, hr_coordinator):
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi"), to_team="Phone APAC")
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Eko"), to_team="Phone APAC", confirm=True)
    problems = destination_problems(plan)
    emp = {n: a.employee_id for n, a in world.agents.items()}
    assert problems.agents == [
        f"Amélie ({emp['Amélie']}) has no destination.",
        f"Bruno ({emp['Bruno']}) has no destination.",
        f"Chen ({emp['Chen']}) has no destination.",
        f"Dewi ({emp['Dewi']}) has only a proposed destination (Phone APAC): confirm it or choose another.",
    ]
    assert problems.teams == []


def test_problems_name_a_destination_team_pushed_over_capacity(world, plan, hr_coordinator):
    assign_agents(
        actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi", "Eko"), to_team="Phone APAC", confirm=True
    )
    # Someone joins Phone APAC directly afterwards: 2 now + 2 arriving for 3 seats.
    AssignmentFactory(agent=AgentFactory(languages=["id"]), team=world.phone_apac, starts_on=timezone.localdate())
    problems = destination_problems(plan)
    assert problems.teams == [
        "Phone APAC is over capacity: 2 agents now + 2 confirmed arrivals for 3 seats (1 too many)."
    ]


def test_staffing_check_matches_the_call_centre_helper_example(world, plan):
    """Call Centre Helper's worked example (cited in test_erlang.py): 200 contacts an hour, 180 s
    handle time, 80% in 20 s -> 14 agents on duty, 20 with 30% shrinkage."""
    PlanStaffingFactory(plan=plan, volume_window_days=1, aht_seconds=180, shrinkage=0.3)
    # One day of history: 200 inbound messages on X in one hour; the phone gets 100% of them.
    plan.redirects.filter(position=0).update(expected_share=1.0)
    plan.redirects.filter(position=1).update(expected_share=0.0)
    at = (timezone.now() - timedelta(hours=2)).replace(minute=5)
    inbound(world.x, 200, at=at)
    report = staffing_check(plan)
    assert report.peak_hour_utc == at.hour
    assert report.retiring_per_hour == pytest.approx(200)
    phone, web = report.queues
    assert phone.target.label == "Phone support"
    assert {t.name for t in phone.teams} == {"Phone EMEA", "Phone APAC"}  # both work the phone channel
    assert phone.redirected_per_hour == pytest.approx(200)
    assert phone.result.raw_agents == 14
    assert phone.needed == 20
    assert (phone.before, phone.after, phone.capacity) == (3, 3, 8)
    assert phone.shortfall == 17 and phone.status == "short"
    # The web form gets no share of the volume: nobody is needed there.
    assert web.needed == 0 and web.status == "ok"


def test_staffing_check_counts_the_agents_this_plan_sends_to_each_queue(world, plan, hr_coordinator):
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Amélie", "Bruno", "Chen"), to_team="Phone EMEA")
    phone = staffing_check(plan).queues[0]
    assert (phone.before, phone.arriving, phone.after) == (3, 3, 6)


def test_a_redirect_target_no_remaining_team_serves_is_flagged(world, manager):
    from channels_app.plans.services.plans import RedirectInput

    plan = world_plan(world, manager, redirects=[RedirectInput("app", "App", "brand://help", 1.0)])
    inbound(world.x, 5)
    queue = staffing_check(plan).queues[0]
    assert queue.teams == [] and queue.status == "no_team"


@pytest.mark.parametrize(
    ("languages", "expected"),
    [
        (["fr", "en"], "fr"),  # the first the portal speaks, in the agent's order
        (["de", "id"], "id"),
        (["fr-CA"], "fr"),  # a regional tag counts
        (["pt_BR", "EN"], "en"),
        (["de"], "en"),  # none of en, fr, id: English
        ([], "en"),
        (None, "en"),
    ],
)
def test_an_agent_is_written_to_in_the_first_portal_language_they_speak(languages, expected):
    assert notice_language(languages) == expected


def test_relocation_names_only_what_changes():
    assert relocation("Jakarta", "Asia/Jakarta", "Jakarta", "Asia/Jakarta") is None
    assert relocation("Paris", "Europe/Paris", "Berlin", "Europe/Berlin").label == "Relocation: Paris → Berlin"
    assert relocation("Paris", "Europe/Paris", "Paris", "America/Chicago").label == (
        "Relocation: Europe/Paris → America/Chicago"
    )
    assert relocation("Jakarta", "Asia/Jakarta", "", "Asia/Jakarta") is None  # a team with no site
    assert relocation("Jakarta", "Asia/Jakarta", None, None) is None  # no destination
