"""A destination team over capacity is shown before anyone clicks: on the reassignment board and in
HR's "Needs my action", as the guard (selectors.destination_problems) will refuse the plan."""

from django.urls import reverse

from channels_app.models import Channel, ChannelState
from channels_app.tests.support.factories import AssignmentFactory, ChannelFactory, TeamFactory
from channels_app.tests.support.helpers import hard_close_plan, move_everyone
from channels_app.workforce.selectors import destination_teams


def test_the_board_does_not_call_an_over_capacity_plan_ready(client, world, plan, hr_coordinator):
    for name in ("Amélie", "Bruno", "Chen"):
        move_everyone(plan, hr_coordinator=hr_coordinator, agents=[world.agents[name]], to_team=world.phone_emea)
    for name in ("Dewi", "Eko"):
        move_everyone(plan, hr_coordinator=hr_coordinator, agents=[world.agents[name]], to_team=world.phone_apac)
    AssignmentFactory(team=world.phone_emea)  # the team fills up after the moves were confirmed
    client.force_login(hr_coordinator)
    page = client.get(reverse("plan_reassignments", args=[plan.pk])).content.decode()
    assert "Every agent has a confirmed destination." not in page
    assert 'id="over-capacity"' in page
    assert "Phone EMEA (3 agents now + 3 confirmed arrivals for 5 seats)" in page


def test_a_board_within_capacity_says_every_agent_is_placed(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    for name, team in [("Amélie", "phone_emea"), ("Bruno", "phone_emea"), ("Chen", "phone_emea")]:
        move_everyone(plan, hr_coordinator=hr_coordinator, agents=[world.agents[name]], to_team=getattr(world, team))
    for name in ("Dewi", "Eko"):
        move_everyone(plan, hr_coordinator=hr_coordinator, agents=[world.agents[name]], to_team=world.phone_apac)
    page = client.get(reverse("plan_reassignments", args=[plan.pk])).content.decode()
    assert "Every agent has a confirmed destination." in page
    assert 'id="over-capacity"' not in page


def test_needs_my_action_lists_a_plan_whose_team_went_over_capacity(client, world, plan, hr_coordinator):
    for name in ("Amélie", "Bruno", "Chen"):
        move_everyone(plan, hr_coordinator=hr_coordinator, agents=[world.agents[name]], to_team=world.phone_emea)
    for name in ("Dewi", "Eko"):
        move_everyone(plan, hr_coordinator=hr_coordinator, agents=[world.agents[name]], to_team=world.phone_apac)
    client.force_login(hr_coordinator)
    assert "Nothing waits for you." in client.get(reverse("home")).content.decode()
    AssignmentFactory(team=world.phone_emea)  # e.g. a rollback put someone back: 3 + 3 > 5
    page = client.get(reverse("home")).content.decode()
    assert "Nothing waits for you." not in page
    assert "Destination teams over capacity" in page
    assert "Phone EMEA" in page.split("Destination teams over capacity", 1)[1]


def test_no_destination_is_a_team_whose_channels_all_retired(world, plan):
    retired = ChannelFactory(kind="messenger", name="Old Messenger", state=ChannelState.RETIRED)
    care = TeamFactory(name="Messenger Care", capacity=50)
    care.channels.set([retired])
    assert "Messenger Care" not in [t.name for t in destination_teams(plan)]
    Channel.objects.filter(pk=retired.pk).update(state=ChannelState.ACTIVE)  # rolled back: it works again
    assert "Messenger Care" in [t.name for t in destination_teams(plan)]


def test_a_team_that_is_leaving_yet_receives_agents_stays_on_the_board_with_its_seats(
    client, world, plan, manager, hr_coordinator
):
    for name in ("Amélie", "Bruno", "Chen"):
        move_everyone(plan, hr_coordinator=hr_coordinator, agents=[world.agents[name]], to_team=world.phone_emea)
    for name in ("Dewi", "Eko"):
        move_everyone(plan, hr_coordinator=hr_coordinator, agents=[world.agents[name]], to_team=world.phone_apac)
    # Another plan now retires the phone line (Phone EMEA's only channel), and Phone EMEA fills up:
    # the guard counts its seats, so the board shows it, marked as leaving, and no green line.
    hard_close_plan(manager=manager, channels=[world.phone], title="Retire the phone line")
    AssignmentFactory(team=world.phone_emea)
    client.force_login(hr_coordinator)
    page = client.get(reverse("plan_reassignments", args=[plan.pk])).content.decode()
    assert "Every agent has a confirmed destination." not in page
    assert "Phone EMEA (3 agents now + 3 confirmed arrivals for 5 seats)" in page
    row = page.split(f'id="team-{world.phone_emea.pk}"', 1)[1].split("</tr>", 1)[0]
    assert 'class="tag leaving"' in row
    assert '<option value="Phone EMEA">' not in page  # not offered as a destination any more
