"""Workforce services: suggestion, hand edits, confirmation, the submit guard, agent emails."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation
from django.utils.formats import date_format

from channels_app.audit.services import verify_chain
from channels_app.core.errors import InvalidTransition
from channels_app.cutover.services.engine import claim_due_phases, run_cutover
from channels_app.models import (
    AgentNotice,
    AuditEvent,
    NoticeState,
    Phase,
    PhaseState,
    PlanState,
    Reassignment,
    ReassignmentState,
)
from channels_app.plans.services.plans import approve_plan, submit_plan
from channels_app.tests.support.factories import AgentFactory, AssignmentFactory
from channels_app.tests.support.helpers import hard_close_plan, submit_and_approve
from channels_app.tests.support.workforce_helpers import world_plan
from channels_app.workforce.selectors import moves_to_notify
from channels_app.workforce.services import moves as moves_module
from channels_app.workforce.services.moves import (
    MoveRequest,
    accept_suggestion,
    assign_agents,
    clear_destinations,
    confirm_moves,
    notify_agents,
    propose_moves,
    send_agent_notices,
    suggest_destinations,
    update_staffing_inputs,
)

pytestmark = pytest.mark.django_db


def _moves(plan) -> dict[str, tuple[str, str]]:
    return {
        r.agent.name: (r.to_team.name, r.state)
        for r in Reassignment.objects.filter(plan=plan).select_related("agent", "to_team")
    }


def _unchanged(before_moves: int, before_events: int) -> None:
    assert Reassignment.objects.count() == before_moves
    assert AuditEvent.objects.count() == before_events


# --- suggestion -------------------------------------------------------------------------------


def test_suggestion_places_every_agent_by_language_and_explains_it(world, plan):
    before = (Reassignment.objects.count(), AuditEvent.objects.count())
    planned = suggest_destinations(plan=plan)
    assert planned.suggestion.feasible
    placed = {world.agents[n].pk: n for n in world.agents}
    teams = {placed[a]: planned.team_for(a).name for a in planned.agent_ids}
    # French and English speakers go to Phone EMEA (3 free seats), Indonesian speakers to Phone APAC
    # (2 free seats); the Web desk has no free seat.
    assert teams == {
        "Amélie": "Phone EMEA",
        "Bruno": "Phone EMEA",
        "Chen": "Phone EMEA",
        "Dewi": "Phone APAC",
        "Eko": "Phone APAC",
    }
    explanation = planned.explain(world.agents["Amélie"].pk)
    assert explanation.startswith("French speaker -> Phone EMEA, seat 1 of 3")
    assert "skills: billing (1 of 1 desired)" in explanation
    assert "same site (Paris)" in explanation
    _unchanged(*before)  # suggesting writes nothing


def test_suggestion_says_which_language_is_short_of_seats(world, plan):
    # Plenty of seats in total, but none left for Dewi, who speaks only Indonesian (Eko also
    # speaks English and can go to Phone EMEA).
    world.phone_apac.capacity = 1
    world.phone_apac.save()
    world.phone_emea.capacity = 9
    world.phone_emea.save()
    planned = suggest_destinations(plan=plan)
    assert planned.suggestion.unplaced == [world.agents["Dewi"].pk]
    assert planned.suggestion.infeasibility == ["1 agent speaks only id but no destination with free seats accepts id"]
    assert planned.team_for(world.agents["Eko"].pk).name == "Phone EMEA"
    assert "not placed" in planned.explain(world.agents["Dewi"].pk)


def test_suggestions_never_go_to_a_team_whose_channels_are_all_retiring(world, plan, manager, hr_coordinator):
    # Another open plan retires the phone line: Phone EMEA and Phone APAC, the only teams with free
    # seats, serve nothing else, so they are leaving too. The Web desk stays but is full.
    hard_close_plan(manager=manager, channels=[world.phone], title="Retire the phone line")
    planned = suggest_destinations(plan=plan)
    assert planned.suggestion.placements == {}
    assert sorted(planned.suggestion.unplaced) == sorted(world.ids(*world.agents))
    assert {t.name for t in planned.teams.values()} == {"Web desk"}
    with pytest.raises(ValidationError) as refused:
        assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi"), to_team="Phone APAC")
    assert "“Phone APAC” cannot receive this plan's agents: it works a retiring channel." in refused.value.messages
    with pytest.raises(ValidationError):
        accept_suggestion(actor=hr_coordinator, plan=plan)
    assert not Reassignment.objects.exists()


def test_the_suggestion_keeps_an_agent_on_her_site_rather_than_match_a_skill_abroad(world, plan):
    # Dewi (Jakarta, Indonesian only) writes; the Dublin web desk wants writers and has seats, the
    # Jakarta phone desk wants devices. Staying in Jakarta comes before the skill.
    world.agents["Dewi"].skills = ["writing"]
    world.agents["Dewi"].save()
    world.web_desk.skills, world.web_desk.capacity = ["writing"], 5
    world.web_desk.save()
    planned = suggest_destinations(plan=plan)
    assert planned.team_for(world.agents["Dewi"].pk).name == "Phone APAC"
    assert "same site (Jakarta)" in planned.explain(world.agents["Dewi"].pk)
    # With the Jakarta desk full, she must relocate, and is sent to the writers' desk.
    world.phone_apac.capacity = 1
    world.phone_apac.save()
    planned = suggest_destinations(plan=plan)
    assert planned.team_for(world.agents["Dewi"].pk).name == "Web desk"
    assert "moves site (Jakarta -> Dublin)" in planned.explain(world.agents["Dewi"].pk)


def test_accepting_all_writes_proposed_moves_in_one_go(world, plan, hr_coordinator):
    result = accept_suggestion(actor=hr_coordinator, plan=plan)
    assert result.accepted == 5 and result.unplaced == []
    hard_close = plan.phases.get().local_date
    assert _moves(plan) == {
        "Amélie": ("Phone EMEA", "proposed"),
        "Bruno": ("Phone EMEA", "proposed"),
        "Chen": ("Phone EMEA", "proposed"),
        "Dewi": ("Phone APAC", "proposed"),
        "Eko": ("Phone APAC", "proposed"),
    }
    assert set(Reassignment.objects.values_list("effective_date", flat=True)) == {hard_close}
    event = AuditEvent.objects.get(action="reassignments.suggestion_accepted")
    assert event.after["agents"] == 5
    assert verify_chain() == []


def test_accepting_what_was_just_suggested_does_not_solve_again(world, plan, hr_coordinator, monkeypatch):
    planned = suggest_destinations(plan=plan)
    solves = []
    real = moves_module.suggest_assignment
    monkeypatch.setattr(moves_module, "suggest_assignment", lambda *a, **k: solves.append(1) or real(*a, **k))
    result = accept_suggestion(actor=hr_coordinator, plan=plan)
    assert result.accepted == 5 and solves == []
    assert {m.agent_id: m.to_team_id for m in Reassignment.objects.filter(plan=plan)} == {
        agent_id: planned.team_for(agent_id).pk for agent_id in planned.agent_ids
    }


def test_accepting_solves_again_when_the_seats_changed_since_the_suggestion(world, plan, hr_coordinator):
    suggest_destinations(plan=plan)
    world.phone_apac.capacity = 2  # one seat fewer than when HR looked
    world.phone_apac.save()
    result = accept_suggestion(actor=hr_coordinator, plan=plan)
    assert result.accepted == 4
    assert len(result.unplaced) == 1 and "not placed" in result.unplaced[0]
    assert Reassignment.objects.filter(plan=plan, to_team=world.phone_apac).count() <= 2


def test_accepting_some_leaves_the_others_alone(world, plan, hr_coordinator):
    result = accept_suggestion(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi", "Chen"))
    assert result.accepted == 2
    assert _moves(plan) == {"Chen": ("Phone EMEA", "proposed"), "Dewi": ("Phone APAC", "proposed")}


def test_accepting_skips_agents_with_no_seat_and_says_why(world, plan, hr_coordinator):
    world.phone_apac.capacity = 2
    world.phone_apac.save()
    result = accept_suggestion(actor=hr_coordinator, plan=plan)
    assert result.accepted == 4
    assert len(result.unplaced) == 1 and "not placed" in result.unplaced[0]


def test_confirmed_moves_are_kept_and_their_seats_taken_when_suggesting_again(world, plan, hr_coordinator):
    assign_agents(
        actor=hr_coordinator, plan=plan, agent_ids=world.ids("Amélie", "Bruno"), to_team="Phone EMEA", confirm=True
    )
    planned = suggest_destinations(plan=plan)
    assert sorted(planned.agent_ids) == sorted(world.ids("Chen", "Dewi", "Eko"))
    assert planned.explain(world.agents["Chen"].pk).startswith("English speaker -> Phone EMEA, seat 1 of 1")


# --- hand edits -----------------------------------------------------------------------------------


def test_hr_sends_agents_to_a_team_by_hand(world, plan, hr_coordinator):
    written = assign_agents(
        actor=hr_coordinator,
        plan=plan,
        agent_ids=world.ids("Bruno", "Chen"),
        to_team="phone emea",
        role="Phone agent",
        effective_date=timezone.localdate() + timedelta(days=10),
    )
    assert written == 2
    move = Reassignment.objects.get(agent=world.agents["Bruno"])
    assert (move.to_team, move.from_team, move.role, move.state) == (
        world.phone_emea,
        world.social_paris,
        "Phone agent",
        ReassignmentState.PROPOSED,
    )
    # The same edit again changes nothing and records nothing.
    events = AuditEvent.objects.count()
    assert (
        assign_agents(
            actor=hr_coordinator,
            plan=plan,
            agent_ids=world.ids("Bruno", "Chen"),
            to_team="Phone EMEA",
            role="Phone agent",
            effective_date=timezone.localdate() + timedelta(days=10),
        )
        == 0
    )
    assert AuditEvent.objects.count() == events


def test_a_team_without_enough_seats_is_refused_and_nothing_changes(world, plan, hr_coordinator):
    before = (Reassignment.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as err:
        assign_agents(
            actor=hr_coordinator, plan=plan, agent_ids=world.ids("Amélie", "Bruno", "Chen", "Eko"), to_team="Phone EMEA"
        )
    assert "Phone EMEA has 3 free seats of 5; 4 of the selected agents would need one." in err.value.messages
    _unchanged(*before)


def test_an_agent_who_does_not_speak_the_teams_language_is_refused(world, plan, hr_coordinator):
    with pytest.raises(ValidationError) as err:
        assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi"), to_team="Phone EMEA")
    assert f"Dewi ({world.agents['Dewi'].employee_id}) speaks id, but Phone EMEA requires fr or en" in " ".join(
        err.value.messages
    )
    assert not Reassignment.objects.exists()


@pytest.mark.parametrize(
    ("to_team", "expected"),
    [
        ("Social Jakarta", "cannot receive this plan's agents: it works a retiring channel"),
        ("Nowhere", "There is no team called “Nowhere”."),
        ("", "Choose a destination team."),
    ],
)
def test_bad_destinations_are_refused(world, plan, hr_coordinator, to_team, expected):
    with pytest.raises(ValidationError, match=expected):
        assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Chen"), to_team=to_team)


def test_agents_the_plan_does_not_affect_cannot_be_moved(world, plan, hr_coordinator):
    bystander = AgentFactory(name="Bystander")
    with pytest.raises(ValidationError, match="Not affected by this plan: Bystander"):
        assign_agents(actor=hr_coordinator, plan=plan, agent_ids=[bystander.pk], to_team="Web desk")


def test_a_past_effective_date_is_refused(world, plan, hr_coordinator):
    with pytest.raises(ValidationError, match="is in the past"):
        assign_agents(
            actor=hr_coordinator,
            plan=plan,
            agent_ids=world.ids("Chen"),
            to_team="Phone EMEA",
            effective_date=date(2020, 1, 1),
        )


def test_only_hr_and_admins_change_moves(world, plan, manager, approver, viewer, outsider):
    for person in (manager, approver, viewer, outsider):
        with pytest.raises(PermissionDenied):
            assign_agents(actor=person, plan=plan, agent_ids=world.ids("Chen"), to_team="Phone EMEA")
        with pytest.raises(PermissionDenied):
            accept_suggestion(actor=person, plan=plan)
    assert not Reassignment.objects.exists()


def test_confirming_is_refused_when_a_team_would_be_over_capacity(world, plan, hr_coordinator, manager):
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi", "Eko"), to_team="Phone APAC")
    # Meanwhile Phone APAC hires someone directly: 2 now, 2 proposed, 3 seats.

    AssignmentFactory(agent=AgentFactory(languages=["id"]), team=world.phone_apac, starts_on=date(2024, 1, 1))
    with pytest.raises(ValidationError) as err:
        confirm_moves(actor=hr_coordinator, plan=plan)
    assert err.value.messages == [
        "Phone APAC would be over capacity: 2 agents now + 2 confirmed arrivals for 3 seats (1 too many)."
    ]
    assert set(Reassignment.objects.values_list("state", flat=True)) == {ReassignmentState.PROPOSED}


def test_removing_a_destination_is_refused_once_the_agent_was_told(world, plan, hr_coordinator):
    assign_agents(
        actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi", "Eko"), to_team="Phone APAC", confirm=True
    )
    assert clear_destinations(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi")) == 1
    Reassignment.objects.filter(agent=world.agents["Eko"]).update(state=ReassignmentState.NOTIFIED)
    with pytest.raises(ValidationError, match="already told or moved"):
        clear_destinations(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Eko"))
    assert _moves(plan) == {"Eko": ("Phone APAC", "notified")}


def test_moves_cannot_change_once_the_plan_is_running(world, plan, hr_coordinator):
    plan.state = PlanState.RUNNING
    plan.save()
    with pytest.raises(InvalidTransition, match="can no longer change"):
        accept_suggestion(actor=hr_coordinator, plan=plan)


# --- the guard ------------------------------------------------------------------------------------


def test_submit_is_refused_naming_each_agent_without_a_destination(world, plan, manager, hr_coordinator):
    assign_agents(
        actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi", "Eko"), to_team="Phone APAC", confirm=True
    )
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Chen"), to_team="Phone EMEA")
    with pytest.raises(ValidationError) as err:
        submit_plan(actor=manager, plan=plan)
    messages = err.value.message_dict["reassignments"]
    emp = {n: a.employee_id for n, a in world.agents.items()}
    assert messages == [
        f"Amélie ({emp['Amélie']}) has no destination.",
        f"Bruno ({emp['Bruno']}) has no destination.",
        f"Chen ({emp['Chen']}) has only a proposed destination (Phone EMEA): confirm it or choose another.",
    ]
    plan.refresh_from_db()
    assert plan.state == PlanState.DRAFT


def test_submit_is_refused_naming_a_destination_team_over_capacity(world, plan, manager, hr_coordinator):
    accept_suggestion(actor=hr_coordinator, plan=plan)
    confirm_moves(actor=hr_coordinator, plan=plan)

    AssignmentFactory(agent=AgentFactory(), team=world.phone_emea, starts_on=date(2024, 1, 1))
    with pytest.raises(ValidationError) as err:
        submit_plan(actor=manager, plan=plan)
    assert err.value.message_dict["reassignments"] == [
        "Phone EMEA is over capacity: 3 agents now + 3 confirmed arrivals for 5 seats (1 too many)."
    ]


def test_a_plan_whose_agents_all_have_confirmed_destinations_goes_through(
    world, plan, manager, approver, hr_coordinator
):
    accept_suggestion(actor=hr_coordinator, plan=plan)
    assert confirm_moves(actor=hr_coordinator, plan=plan) == 5
    plan = submit_and_approve(plan, manager=manager, approver=approver)
    assert plan.state == PlanState.SCHEDULED


def test_approval_checks_the_guard_again(world, plan, manager, approver, hr_coordinator):
    accept_suggestion(actor=hr_coordinator, plan=plan)
    confirm_moves(actor=hr_coordinator, plan=plan)
    submit_plan(actor=manager, plan=plan)
    # HR reopens a move while the plan waits for approval.
    clear_destinations(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Chen"))
    with pytest.raises(ValidationError, match="Chen .* has no destination"):
        approve_plan(actor=approver, plan=plan)


# --- telling the agents ----------------------------------------------------------------------------


def _approved(plan, *, manager, approver, hr_coordinator):
    """Every agent placed by the suggestion and confirmed, then the plan approved: agents can be
    emailed from now on."""
    accept_suggestion(actor=hr_coordinator, plan=plan)
    confirm_moves(actor=hr_coordinator, plan=plan)
    return submit_and_approve(plan, manager=manager, approver=approver)


def test_agents_cannot_be_emailed_before_the_plan_is_approved(world, plan, hr_coordinator, smtp_settings):
    accept_suggestion(actor=hr_coordinator, plan=plan)
    confirm_moves(actor=hr_coordinator, plan=plan)
    before = AuditEvent.objects.count()
    with pytest.raises(InvalidTransition) as refused:
        notify_agents(actor=hr_coordinator, plan=plan)
    assert refused.value.messages == [
        "Agents can be emailed their new team once the plan is approved; “Retire social support” is draft."
    ]
    assert not AgentNotice.objects.exists() and AuditEvent.objects.count() == before
    assert send_agent_notices() == 0 and smtp_settings.messages == []


def test_agents_are_emailed_their_new_team_once(
    world, plan, manager, approver, hr_coordinator, smtp_settings, django_capture_on_commit_callbacks
):
    plan = _approved(plan, manager=manager, approver=approver, hr_coordinator=hr_coordinator)
    assign_agents(
        actor=hr_coordinator,
        plan=plan,
        agent_ids=world.ids("Dewi", "Eko"),
        to_team="Phone APAC",
        role="Phone agent",
        confirm=True,
    )
    # HR takes Chen's confirmation back: a proposed move is not announced.
    propose_moves(
        actor=hr_coordinator,
        plan=plan,
        moves=[MoveRequest(world.agents["Chen"].pk, "Phone EMEA", state="proposed")],
        source="board",
    )
    with django_capture_on_commit_callbacks() as queued:
        result = notify_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi", "Eko", "Chen"))
    assert (result.queued, result.already, result.unconfirmed) == (2, 0, 1)
    assert len(queued) == 1  # the sender task is queued once the transaction commits
    again = notify_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi", "Eko", "Chen"))
    assert (again.queued, again.already) == (0, 2)  # a second click

    assert send_agent_notices(plan_id=plan.pk) == 2
    assert send_agent_notices(plan_id=plan.pk) == 0
    received = {m.message["To"]: m.message for m in smtp_settings.messages}
    assert set(received) == {world.agents["Dewi"].email, world.agents["Eko"].email}
    assert received[world.agents["Dewi"].email]["Reply-To"] == hr_coordinator.email
    assert _moves(plan)["Dewi"] == ("Phone APAC", "notified")
    assert _moves(plan)["Chen"] == ("Phone EMEA", "proposed")  # not confirmed: not announced
    # Asking again after they were told sends nothing more.
    assert notify_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi", "Eko")).queued == 0
    assert send_agent_notices() == 0
    assert len(smtp_settings.messages) == 2


def test_each_agent_is_written_to_in_their_language_for_the_moment_it_is_sent(
    world, plan, manager, approver, hr_coordinator, smtp_settings
):
    plan = _approved(plan, manager=manager, approver=approver, hr_coordinator=hr_coordinator)
    hard_close = plan.phases.get().local_date
    notify_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Amélie", "Chen", "Dewi"))
    assert send_agent_notices() == 3
    mail = {m.message["To"]: m.message for m in smtp_settings.messages}
    amelie = mail[world.agents["Amélie"].email]  # speaks fr
    chen = mail[world.agents["Chen"].email]  # speaks en
    dewi = mail[world.agents["Dewi"].email]  # speaks id
    with translation.override("fr"):
        fr_date = date_format(hard_close, "j F Y")
    with translation.override("id"):
        id_date = date_format(hard_close, "j F Y")
    assert " ".join(amelie["Subject"].split()) == f"[Dusk] Votre nouvelle équipe à partir du {fr_date} : Phone EMEA"
    assert (
        f"Les canaux d'assistance sur lesquels vous travaillez (Brand forum, Brand on X) seront fermés le {fr_date}."
        in amelie.get_content()
    )
    assert f"The support channels you work on (Brand forum, Brand on X) will retire on {hard_close:%-d %B %Y}." in (
        chen.get_content()
    )
    assert f"Kanal dukungan tempat Anda bekerja, Brand on X, akan ditutup pada {id_date}." in dewi.get_content()
    assert "Phone APAC" in dewi["Subject"] and "Your new team" not in dewi["Subject"]
    # Bruno's email waits in the queue while the hard close runs: it goes out saying so.
    notify_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Bruno"))
    Phase.objects.filter(plan=plan).update(state=PhaseState.COMPLETED)
    assert send_agent_notices() == 1
    bruno = smtp_settings.messages[-1].message.get_content()
    assert "Les canaux d'assistance sur lesquels vous travaillez (Brand forum, Brand on X) ont été fermés." in bruno
    assert AgentNotice.objects.get(agent=world.agents["Bruno"]).body == bruno.replace("\r\n", "\n")


def test_a_changed_move_is_announced_again_and_a_stale_email_is_not_sent(
    world, plan, manager, approver, hr_coordinator, smtp_settings
):
    plan = _approved(plan, manager=manager, approver=approver, hr_coordinator=hr_coordinator)
    notify_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Chen"))
    # Before the worker sends it, HR changes Chen's team: that first email must not go out.
    world.web_desk.capacity = 3
    world.web_desk.save()
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Chen"), to_team="Web desk", confirm=True)
    notify_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Chen"))
    assert send_agent_notices() == 1
    assert [n.state for n in AgentNotice.objects.order_by("id")] == [NoticeState.SKIPPED, NoticeState.SENT]
    assert len(smtp_settings.messages) == 1
    assert "you join Web desk" in smtp_settings.messages[0].message.get_content()


def test_a_refused_email_stays_queued_and_goes_out_on_the_next_pass(
    world, plan, manager, approver, hr_coordinator, smtp_settings
):
    plan = _approved(plan, manager=manager, approver=approver, hr_coordinator=hr_coordinator)
    notify_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi", "Eko"))
    smtp_settings.reject_next_data()  # 451 try again later, for the first email
    assert send_agent_notices() == 1
    waiting = AgentNotice.objects.get(state=NoticeState.PENDING)
    assert "451" in waiting.last_error and waiting.attempts == 1
    assert send_agent_notices() == 1
    assert set(AgentNotice.objects.values_list("state", flat=True)) == {NoticeState.SENT}
    assert len({m.message["Message-ID"] for m in smtp_settings.messages}) == 2


def test_an_email_that_failed_for_good_is_counted_and_queued_again_when_hr_asks(
    world, plan, manager, approver, hr_coordinator, smtp_settings
):
    plan = _approved(plan, manager=manager, approver=approver, hr_coordinator=hr_coordinator)
    notify_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Chen"))
    AgentNotice.objects.update(state=NoticeState.FAILED, attempts=5, last_error="550 mailbox full")  # gave up
    assert moves_to_notify(plan, world.ids("Chen")).count() == 1  # what the confirmation states
    result = notify_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Chen"))
    assert (result.queued, result.requeued) == (0, 1)
    assert send_agent_notices() == 1 and len(smtp_settings.messages) == 1
    assert moves_to_notify(plan, world.ids("Chen")).count() == 0


def test_emails_go_out_in_batches(world, plan, manager, approver, hr_coordinator, smtp_settings, settings):
    settings.DUSK_EMAIL_BATCH = 2
    plan = _approved(plan, manager=manager, approver=approver, hr_coordinator=hr_coordinator)
    notify_agents(actor=hr_coordinator, plan=plan)
    assert send_agent_notices() == 5
    assert len(smtp_settings.messages) == 5
    # Three batches of at most two: each batch is one claim recorded in the audit trail.
    assert AuditEvent.objects.filter(action="agents.notified").count() == 3


def test_the_cutover_does_not_email_agents_hr_already_told(world, manager, approver, hr_coordinator, smtp_settings):
    plan = _approved(world_plan(world, manager), manager=manager, approver=approver, hr_coordinator=hr_coordinator)
    notify_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Amélie", "Bruno"))
    send_agent_notices()
    run_ids = claim_due_phases(now=plan.phases.get().instant + timedelta(seconds=1))
    assert run_cutover(run_id=run_ids[0], worker_id="test") in ("completed", "delivering")
    recipients = sorted(m.message["To"] for m in smtp_settings.messages)
    told_by_hr = [world.agents["Amélie"].email, world.agents["Bruno"].email]
    told_at_cutover = [world.agents[n].email for n in ("Chen", "Dewi", "Eko")]
    assert recipients == sorted(told_by_hr + told_at_cutover + [manager.email, approver.email])


# --- staffing inputs ---------------------------------------------------------------------------------


def test_staffing_inputs_are_validated_and_audited(world, plan, hr_coordinator, viewer):
    with pytest.raises(ValidationError) as err:
        update_staffing_inputs(actor=hr_coordinator, plan=plan, service_level_target=1.0, aht_seconds=0)
    assert set(err.value.message_dict) == {"service_level_target", "aht_seconds"}
    with pytest.raises(PermissionDenied):
        update_staffing_inputs(actor=viewer, plan=plan, aht_seconds=300)
    inputs = update_staffing_inputs(actor=hr_coordinator, plan=plan, aht_seconds=300, shrinkage=0.25)
    assert (inputs.aht_seconds, inputs.shrinkage, inputs.updated_by) == (300, 0.25, hr_coordinator)
    event = AuditEvent.objects.get(action="plan.staffing_inputs_updated")
    assert (event.before["aht_seconds"], event.after["aht_seconds"]) == (360, 300)


def test_an_agent_who_prefers_a_language_is_written_to_in_it(
    world, plan, manager, approver, hr_coordinator, smtp_settings
):
    # Chen speaks only English but asked for Indonesian; Amélie speaks French and chose nothing.
    chen = world.agents["Chen"]
    chen.preferred_language = "id"
    chen.save(update_fields=["preferred_language"])
    plan = _approved(plan, manager=manager, approver=approver, hr_coordinator=hr_coordinator)
    notify_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Amélie", "Chen"))
    assert send_agent_notices() == 2
    mail = {m.message["To"]: m.message for m in smtp_settings.messages}
    assert mail[chen.email]["Subject"].startswith("[Dusk] Tim baru Anda")
    assert "Votre nouvelle équipe" in mail[world.agents["Amélie"].email]["Subject"]
