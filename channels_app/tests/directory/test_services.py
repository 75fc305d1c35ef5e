import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from channels_app.directory.services import (
    create_agent,
    create_team,
    register_channel,
    update_agent,
    update_channel,
)
from channels_app.models import Assignment, AuditEvent, Channel, Team

pytestmark = pytest.mark.django_db


def test_manager_registers_a_channel_and_it_is_audited(manager):
    channel = register_channel(actor=manager, kind="x", name="Brand on X", handle="@brand")
    assert channel.state == "active"
    event = AuditEvent.objects.get(action="channel.registered")
    assert event.after["handle"] == "@brand"


def test_bad_channel_input_is_rejected_with_field_messages(manager):
    with pytest.raises(ValidationError) as err:
        register_channel(actor=manager, kind="myspace", name="Old")
    assert "Unknown channel kind" in err.value.message_dict["kind"][0]
    register_channel(actor=manager, kind="x", name="Brand on X")
    with pytest.raises(ValidationError, match="already exists"):
        register_channel(actor=manager, kind="x", name="Brand on X")
    assert Channel.objects.count() == 1


def test_update_channel_refuses_unknown_fields(manager):
    channel = register_channel(actor=manager, kind="x", name="Brand on X")
    with pytest.raises(ValidationError, match="cannot be changed here: state"):
        update_channel(actor=manager, channel=channel, state="retired")
    channel.refresh_from_db()
    assert channel.state == "active"


def test_hr_creates_teams_and_agents_with_validation(hr_coordinator, manager):
    with pytest.raises(PermissionDenied):
        create_team(actor=manager, name="Phone", capacity=10)
    team = create_team(
        actor=hr_coordinator, name="Phone EMEA", capacity=40, languages=["en", "fr"], time_zone="Europe/Dublin"
    )
    with pytest.raises(ValidationError) as err:
        create_team(actor=hr_coordinator, name="Bad", capacity=5, languages=["english"], time_zone="Nowhere")
    assert set(err.value.message_dict) == {"languages", "time_zone"}
    assert Team.objects.count() == 1
    agent = create_agent(
        actor=hr_coordinator,
        employee_id="E1",
        name="Chloé Martin",
        email="chloe@example.com",
        languages=["fr"],
        team=team,
    )
    assert Assignment.objects.get(agent=agent).team == team
    with pytest.raises(ValidationError) as err:
        create_agent(actor=hr_coordinator, employee_id="E2", name="X", email="not-an-email")
    assert "email" in err.value.message_dict


def test_an_agents_preferred_language_is_one_dusk_writes_in(hr_coordinator):
    agent = create_agent(
        actor=hr_coordinator, employee_id="E1", name="Dewi", email="dewi@example.com", languages=["id", "en"]
    )
    assert agent.preferred_language == ""  # written to in the first of their languages Dusk speaks
    update_agent(actor=hr_coordinator, agent=agent, preferred_language=" ID ")
    agent.refresh_from_db()
    assert agent.preferred_language == "id"
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as err:
        update_agent(actor=hr_coordinator, agent=agent, preferred_language="de")
    assert err.value.message_dict["preferred_language"] == [
        "“de” is not a language Dusk writes in; use one of en, fr, id, or leave it empty."
    ]
    agent.refresh_from_db()
    assert agent.preferred_language == "id" and AuditEvent.objects.count() == before
    event = AuditEvent.objects.filter(action="agent.updated").get()
    assert (event.before["preferred_language"], event.after["preferred_language"]) == ("", "id")
