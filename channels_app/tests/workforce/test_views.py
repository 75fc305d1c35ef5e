"""The HR pages: reassignment board and staffing check (roles, actions, htmx partials, query counts)."""

import re
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from channels_app.models import (
    Agent,
    AgentNotice,
    Assignment,
    AuditEvent,
    PlanStaffing,
    Reassignment,
    ReassignmentState,
    Team,
)
from channels_app.tests.support.factories import ChannelFactory, TeamFactory
from channels_app.tests.support.helpers import hard_close_plan, submit_and_approve
from channels_app.tests.support.workforce_helpers import inbound, world_plan
from channels_app.workforce.services.moves import accept_suggestion, assign_agents, confirm_moves

pytestmark = pytest.mark.django_db


def board(plan, **query) -> str:
    url = reverse("plan_reassignments", args=[plan.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _post(client, name, plan, data, **extra):
    return client.post(reverse(name, args=[plan.pk]), data, **extra)


def _moves(plan) -> dict[str, str]:
    return dict(Reassignment.objects.filter(plan=plan).values_list("agent__name", "to_team__name"))


def _no_inline_code(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert " style=" not in html and "<style" not in html, "inline style"


# --- who may see and change ------------------------------------------------------------------------


def test_board_requires_sign_in(client, plan):
    response = client.get(board(plan))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_someone_without_a_role_is_refused(client, plan, outsider):
    client.force_login(outsider)
    assert client.get(board(plan)).status_code == 403
    assert client.get(reverse("plan_staffing", args=[plan.pk])).status_code == 403


@pytest.mark.parametrize("person", ["manager", "approver", "viewer"])
def test_other_roles_see_the_board_but_no_controls(client, plan, person, request):
    client.force_login(request.getfixturevalue(person))
    html = client.get(board(plan)).content.decode()
    assert "Amélie" in html and "Phone EMEA" in html
    assert 'id="bulk"' not in html and "row-move" not in html and "Import a reassignment CSV" not in html


@pytest.mark.parametrize("person", ["manager", "approver", "viewer"])
def test_other_roles_cannot_post_changes(client, world, plan, person, request):
    client.force_login(request.getfixturevalue(person))
    data = {"agent_ids": world.ids("Chen"), "to_team": "Phone EMEA", "scope": "selected"}
    for name in ("plan_reassignments_assign", "plan_reassignments_accept", "plan_reassignments_confirm"):
        assert _post(client, name, plan, data).status_code == 403
    assert client.post(reverse("plan_staffing", args=[plan.pk]), {"aht_seconds": 1}).status_code == 403
    assert not Reassignment.objects.exists()


def test_pages_answer_get_only_where_they_should(client, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    assert client.post(board(plan)).status_code == 405
    assert client.get(reverse("plan_reassignments_assign", args=[plan.pk])).status_code == 405


def test_an_unknown_plan_is_a_404(client, hr_coordinator):
    client.force_login(hr_coordinator)
    assert client.get(reverse("plan_reassignments", args=[999])).status_code == 404


# --- the board -------------------------------------------------------------------------------------------


def test_board_shows_agents_destinations_and_what_is_missing(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    response = client.get(board(plan))
    html = response.content.decode()
    assert response.status_code == 200
    assert "5 still without a destination" in html
    assert "cannot be submitted or approved while 5 agents have no confirmed destination" in html
    for name in ("Amélie", "Bruno", "Chen", "Dewi", "Eko", "Social Paris", "Social Jakarta"):
        assert name in html
    # Destination teams with their seats, and a datalist to search them.
    assert '<option value="Phone EMEA">fr, en · 3 free seats</option>' in html
    assert f'id="team-{world.phone_emea.pk}"' in html
    assert "3 / 5" in html  # free / seats
    _no_inline_code(html)


def test_search_and_filters_narrow_the_list(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    html = client.get(board(plan, q="devices")).content.decode()
    assert "Bruno" in html and "Dewi" in html and "Amélie" not in html
    html = client.get(board(plan, team=world.social_jakarta.pk)).content.decode()
    assert "Dewi" in html and "Amélie" not in html
    html = client.get(board(plan, q="nobody-like-this")).content.decode()
    assert "No agent matches these filters." in html


def test_suggested_plan_is_shown_with_its_explanation(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    html = client.get(board(plan, suggest=1)).content.decode()
    assert "The suggested plan places 5 agents awaiting a confirmed destination." in html
    assert "French speaker -&gt; Phone EMEA, seat 1 of 3" in html
    assert "Accept suggestion for selected" in html
    assert not Reassignment.objects.exists()  # looking writes nothing


def test_suggested_plan_is_explained_in_french(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    client.cookies["django_language"] = "fr"
    html = client.get(board(plan, suggest=1)).content.decode()
    assert "Parle français -&gt; Phone EMEA, poste 1 sur 3" in html
    assert "French speaker" not in html


def test_a_move_to_another_site_is_labelled_a_relocation_on_the_board(client, world, plan, hr_coordinator):
    world.web_desk.capacity = 4
    world.web_desk.save()
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Dewi"), to_team="Web desk")
    assign_agents(actor=hr_coordinator, plan=plan, agent_ids=world.ids("Eko"), to_team="Phone APAC")
    client.force_login(hr_coordinator)
    html = client.get(board(plan)).content.decode()
    dewi = html.split(f'id="agent-{world.agents["Dewi"].pk}"', 1)[1].split("</tr>", 1)[0]
    eko = html.split(f'id="agent-{world.agents["Eko"].pk}"', 1)[1].split("</tr>", 1)[0]
    assert "Relocation: Jakarta (Asia/Jakarta) → Dublin (Europe/Dublin)" in dewi
    assert "Relocation" not in eko  # Jakarta to Jakarta
    client.cookies["django_language"] = "fr"
    assert "Mutation : Jakarta (Asia/Jakarta) → Dublin (Europe/Dublin)" in client.get(board(plan)).content.decode()


def test_board_messages_are_in_french(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    client.cookies["django_language"] = "fr"
    response = _post(client, "plan_reassignments_accept", plan, {"scope": "all"})
    html = client.get(response["Location"]).content.decode()
    assert "5 destinations suggérées acceptées comme réaffectations proposées." in html
    response = _post(client, "plan_reassignments_confirm", plan, {"agent_ids": world.ids("Eko")})
    assert "1 réaffectation confirmée." in client.get(response["Location"]).content.decode()
    response = _post(client, "plan_reassignments_assign", plan, {"agent_ids": world.ids("Dewi"), "to_team": "Nowhere"})
    assert response.status_code == 422
    assert "Il n&#x27;existe pas d&#x27;équipe nommée « Nowhere »." in response.content.decode()


def test_hr_accepts_the_whole_suggested_plan_then_confirms_it(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    response = _post(client, "plan_reassignments_accept", plan, {"scope": "all"})
    assert response.status_code == 302 and response["Location"] == board(plan)
    assert _moves(plan) == {
        "Amélie": "Phone EMEA",
        "Bruno": "Phone EMEA",
        "Chen": "Phone EMEA",
        "Dewi": "Phone APAC",
        "Eko": "Phone APAC",
    }
    html = client.get(response["Location"]).content.decode()
    assert "5 suggested destinations accepted as proposed moves." in html
    _post(client, "plan_reassignments_confirm", plan, {"scope": "all"})
    assert set(Reassignment.objects.values_list("state", flat=True)) == {ReassignmentState.CONFIRMED}
    assert "Every agent has a confirmed destination." in client.get(board(plan)).content.decode()


def test_hr_accepts_the_suggestion_for_some_agents(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    _post(client, "plan_reassignments_accept", plan, {"scope": "selected", "agent_ids": world.ids("Eko")})
    assert _moves(plan) == {"Eko": "Phone APAC"}


def test_bulk_assign_sends_the_selected_agents_and_returns_to_the_same_view(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    back = board(plan, status="without")
    response = _post(
        client,
        "plan_reassignments_assign",
        plan,
        {
            "scope": "selected",
            "agent_ids": world.ids("Amélie", "Chen"),
            "to_team": "Phone EMEA",
            "role": "Phone agent",
            "confirm": "on",
            "next": back,
        },
    )
    assert response.status_code == 302 and response["Location"] == back
    assert _moves(plan) == {"Amélie": "Phone EMEA", "Chen": "Phone EMEA"}
    assert set(Reassignment.objects.values_list("state", "role")) == {("confirmed", "Phone agent")}


def test_a_refused_bulk_assign_shows_why_and_changes_nothing(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    events = AuditEvent.objects.count()
    response = _post(
        client,
        "plan_reassignments_assign",
        plan,
        {"scope": "selected", "agent_ids": world.ids("Amélie", "Bruno", "Chen", "Eko"), "to_team": "Phone EMEA"},
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Nothing was changed." in html
    assert "Phone EMEA has 3 free seats of 5; 4 of the selected agents would need one." in html
    assert not Reassignment.objects.exists() and AuditEvent.objects.count() == events


def test_an_offsite_next_url_is_ignored(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    response = _post(
        client,
        "plan_reassignments_assign",
        plan,
        {"agent_ids": world.ids("Chen"), "to_team": "Phone EMEA", "next": "https://evil.example/"},
    )
    assert response["Location"] == board(plan)


def test_a_row_edit_with_htmx_answers_with_the_row_and_refreshes_the_seats(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    response = _post(
        client,
        "plan_reassignments_assign",
        plan,
        {"row": "1", "agent_ids": world.ids("Chen"), "to_team": "Phone EMEA"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "moves-changed"
    html = response.content.decode().strip()
    assert html.startswith(f'<tr id="agent-{world.agents["Chen"].pk}">') and html.endswith("</tr>")
    assert 'value="Phone EMEA"' in html and '<span class="state state-proposed">Proposed</span>' in html
    # The seats partial the page then asks for shows the arrival.
    summary = client.get(board(plan, partial="summary")).content.decode()
    assert summary.strip().startswith('<section id="board-summary"')
    assert "<h1>" not in summary
    assert "2 / 5" in summary  # Phone EMEA: 2 now + 1 arriving, 2 free of 5


def test_a_refused_row_edit_comes_back_as_422_with_the_reason(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    response = _post(
        client,
        "plan_reassignments_assign",
        plan,
        {"row": "1", "agent_ids": world.ids("Dewi"), "to_team": "Phone EMEA"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "HX-Trigger" not in response
    assert "speaks id, but Phone EMEA requires fr or en" in response.content.decode()
    assert not Reassignment.objects.exists()


def test_unknown_partials_are_refused(client, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    assert client.get(board(plan, partial="secrets")).status_code == 400


def test_removing_destinations(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    _post(client, "plan_reassignments_accept", plan, {"scope": "all"})
    _post(client, "plan_reassignments_clear", plan, {"scope": "selected", "agent_ids": world.ids("Amélie")})
    assert "Amélie" not in _moves(plan)
    response = _post(client, "plan_reassignments_clear", plan, {"scope": "all"})
    assert response.status_code == 422 and "Select the agents" in response.content.decode()


def test_email_buttons_are_disabled_with_the_reason_until_the_plan_is_approved(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    _post(
        client,
        "plan_reassignments_assign",
        plan,
        {"agent_ids": world.ids("Dewi"), "to_team": "Phone APAC", "confirm": "on"},
    )
    html = client.get(board(plan)).content.decode()
    reason = "Agents can be emailed their new team once the plan is approved; “Retire social support” is draft."
    assert f'<p class="hint" id="emails-blocked">{reason}</p>' in html
    assert html.count('disabled aria-describedby="emails-blocked"') == 2  # "Email selected" and "Email every agent"
    for data in ({"scope": "all"}, {"scope": "all", "confirmed": "1"}):  # asking, or forging the confirmation
        response = _post(client, "plan_reassignments_notify", plan, data)
        assert response.status_code == 422 and reason in response.content.decode()
    assert not AgentNotice.objects.exists()


def test_emailing_agents_asks_for_a_confirmation_stating_the_count_then_queues(
    client, world, plan, manager, approver, hr_coordinator, django_capture_on_commit_callbacks
):
    accept_suggestion(actor=hr_coordinator, plan=plan)
    confirm_moves(actor=hr_coordinator, plan=plan)
    plan = submit_and_approve(plan, manager=manager, approver=approver)
    client.force_login(hr_coordinator)
    html = client.get(board(plan)).content.decode()
    assert 'id="emails-blocked"' not in html and "disabled" not in html
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(client, "plan_reassignments_notify", plan, {"scope": "all"})
    html = response.content.decode()
    assert response.status_code == 200 and callbacks == [] and not AgentNotice.objects.exists()
    assert "Email 5 agents their new team?" in html and "Send 5 emails" in html
    assert '<input type="hidden" name="confirmed" value="1">' in html
    # A selection is confirmed for the selection only.
    html = _post(client, "plan_reassignments_notify", plan, {"scope": "selected", "agent_ids": world.ids("Dewi")})
    assert "Email 1 agent their new team?" in html.content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(client, "plan_reassignments_notify", plan, {"scope": "all", "confirmed": "1"})
    assert response.status_code == 302 and len(callbacks) == 1
    assert AgentNotice.objects.count() == 5
    assert "5 emails queued." in client.get(board(plan)).content.decode()
    again = _post(client, "plan_reassignments_notify", plan, {"scope": "all"}).content.decode()
    assert "No agent is waiting for an email." in again and "Send " not in again


def test_bad_ids_are_refused_with_a_clear_message(client, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    response = _post(client, "plan_reassignments_confirm", plan, {"scope": "selected", "agent_ids": ["x1"]})
    assert response.status_code == 422 and "Agent ids must be numbers." in response.content.decode()
    response = _post(
        client, "plan_reassignments_assign", plan, {"row": "1", "agent_ids": ["x1"]}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422 and "Agent ids must be numbers." in response.content.decode()


def test_acting_on_a_selection_needs_a_selection(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    _post(client, "plan_reassignments_accept", plan, {"scope": "all"})
    response = _post(client, "plan_reassignments_confirm", plan, {"scope": "selected"})
    assert response.status_code == 422
    assert "Select at least one agent, or use the buttons for the whole plan." in response.content.decode()
    assert set(Reassignment.objects.values_list("state", flat=True)) == {ReassignmentState.PROPOSED}


# --- CSV ----------------------------------------------------------------------------------------------------


def test_csv_export_downloads_the_plan(client, plan, viewer):
    client.force_login(viewer)
    response = client.get(reverse("plan_reassignments_csv", args=[plan.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="plan-{plan.pk}-reassignments.csv"'
    assert response.content.decode().startswith("employee_id,agent_name,")


def test_csv_import_applies_a_valid_file(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    upload = SimpleUploadedFile(
        "moves.csv", f"employee_id,destination_team\n{world.agents['Eko'].employee_id},Phone APAC\n".encode()
    )
    response = _post(client, "plan_reassignments_import", plan, {"file": upload})
    assert response.status_code == 302
    assert _moves(plan) == {"Eko": "Phone APAC"}
    assert "moves.csv: 1 move written, 0 removed, 0 unchanged." in client.get(board(plan)).content.decode()


def test_csv_import_errors_are_in_french(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    client.cookies["django_language"] = "fr"
    upload = SimpleUploadedFile("moves.csv", b"employee_id,destination_team\nE-NOBODY,Phone APAC\n")
    response = _post(client, "plan_reassignments_import", plan, {"file": upload})
    assert response.status_code == 422
    html = response.content.decode()
    assert "moves.csv n'a pas été importé : rien n'a été modifié." in html
    assert "<td>2</td><td>Aucun agent E-NOBODY n&#x27;est concerné par ce plan.</td>" in html
    assert not Reassignment.objects.exists()


def test_csv_import_shows_errors_by_line_and_applies_nothing(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    upload = SimpleUploadedFile(
        "moves.csv",
        (
            "employee_id,destination_team\n"
            f"{world.agents['Eko'].employee_id},Phone APAC\n"
            "E-404,Phone APAC\n"
            f"{world.agents['Dewi'].employee_id},Phone Moon\n"
        ).encode(),
    )
    response = _post(client, "plan_reassignments_import", plan, {"file": upload})
    assert response.status_code == 422
    html = response.content.decode()
    assert "moves.csv was not imported: nothing was changed." in html
    assert "<td>3</td><td>No agent E-404 is affected by this plan.</td>" in html
    assert "<td>4</td><td>There is no team called “Phone Moon”.</td>" in html
    assert not Reassignment.objects.exists()


def test_csv_import_without_a_file_is_refused_with_its_reason(client, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    response = _post(client, "plan_reassignments_import", plan, {})
    assert response.status_code == 422 and "Choose a CSV file to import." in response.content.decode()


# --- the staffing page ---------------------------------------------------------------------------------------


def test_staffing_page_charts_capacity_and_the_erlang_check(client, world, plan, viewer):
    inbound(world.x, 48)
    client.force_login(viewer)
    response = client.get(reverse("plan_staffing", args=[plan.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('<svg class="chart"') == 2
    assert "Phone EMEA" in html and "Phone support" in html and "Contact form" in html
    assert "enough" in html or "short by" in html
    assert '<form method="post" class="inputs"' not in html  # viewers see the inputs, not a form
    counted = re.findall(r"<title>(\d+) (agents?|seats?)\b", html)
    assert counted and any(n == "1" for n, _ in counted)  # the world has a team of one
    assert all((n == "1") == (not word.endswith("s")) for n, word in counted), counted  # "1 seat", "2 seats"
    _no_inline_code(html)


def test_the_board_tally_agrees_in_number_in_french(client, world, plan, hr_coordinator):
    inbound(world.x, 48)
    client.force_login(hr_coordinator)
    client.cookies["django_language"] = "fr"
    html = client.get(board(plan)).content.decode()
    tally = re.search(r'<p class="tally">(.*?)</p>', html, flags=re.S).group(1)
    assert "(s)" not in tally
    assert re.search(r"\b0 confirmé,", tally) and re.search(r"\b0 proposé,", tally)
    assert "postes libres" in html or "poste libre" in html  # the destination list


@pytest.mark.parametrize("language", ["fr", "id"])
def test_chart_coordinates_keep_a_decimal_point_in_every_language(client, world, plan, hr_coordinator, language):
    # French and Indonesian write 53,3: inside an SVG attribute that is no number, and the bar vanishes.
    inbound(world.x, 48)
    client.force_login(hr_coordinator)
    client.cookies["django_language"] = language
    board_html = client.get(board(plan)).content.decode()
    staffing_html = client.get(reverse("plan_staffing", args=[plan.pk])).content.decode()
    assert f'lang="{language}"' in staffing_html
    svgs = re.findall(r"<svg.*?</svg>", board_html + staffing_html, flags=re.S)
    assert len(svgs) == 3 + 2  # a seat bar per destination team, two staffing charts
    numbers = re.findall(r'\b(?:x|y|x1|x2|y1|y2|width|height|viewBox)="([^"]*)"', "".join(svgs))
    assert numbers and not [n for n in numbers if "," in n]
    assert re.search(r'width="\d+\.\d"', "".join(svgs))  # fractions are there, written with a point


def test_hr_changes_the_staffing_inputs(client, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    url = reverse("plan_staffing", args=[plan.pk])
    values = {
        "affected_share_threshold": 60,
        "volume_window_days": 14,
        "aht_seconds": 240,
        "service_level_target": 90,
        "answer_seconds": 30,
        "shrinkage": 25,
    }
    response = client.post(url, values)
    assert response.status_code == 302
    inputs = PlanStaffing.objects.get(plan=plan)
    assert (inputs.affected_share_threshold, inputs.service_level_target, inputs.shrinkage) == (0.6, 0.9, 0.25)
    assert (inputs.volume_window_days, inputs.aht_seconds, inputs.answer_seconds) == (14, 240, 30)
    response = client.post(url, {**values, "service_level_target": 100, "aht_seconds": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Ensure this value is less than or equal to 99." in html
    assert "This field is required." in html
    assert PlanStaffing.objects.get(plan=plan).aht_seconds == 240


# --- query counts ----------------------------------------------------------------------------------------------


def _big_plan(manager, n_agents: int):
    """One retiring channel worked by one team of n agents, three destination teams, a third of the
    agents with a proposed move and a third confirmed."""
    x = ChannelFactory(kind="x", name="Brand on X")
    social = TeamFactory(name="Social", languages=["en"])
    social.channels.set([x])
    phone = ChannelFactory(kind="phone", name="Brand phone", handle="+1 800 555 0100")
    teams = [TeamFactory(name=f"Phone {i}", capacity=n_agents) for i in range(3)]
    for team in teams:
        team.channels.set([phone])
    agents = Agent.objects.bulk_create(
        [
            Agent(employee_id=f"B{i:05d}", name=f"Agent {i:05d}", email=f"b{i}@example.com", languages=["en"])
            for i in range(n_agents)
        ]
    )
    Assignment.objects.bulk_create([Assignment(agent=a, team=social, starts_on=date(2024, 1, 1)) for a in agents])
    plan = hard_close_plan(manager=manager, channels=[x])
    day = plan.phases.get().local_date
    Reassignment.objects.bulk_create(
        [
            Reassignment(
                plan=plan,
                agent=a,
                from_team=social,
                to_team=teams[i % 3],
                effective_date=day,
                state="proposed" if i % 3 == 0 else "confirmed",
            )
            for i, a in enumerate(agents)
            if i % 3 != 2
        ]
    )
    inbound(x, 20)
    return plan


# The board, whatever the number of agents:
#  1 session, 2 user, 3 the user's groups (role check), 4 the plan, 5 staffing inputs,
#  6 teams working the plan's channels, 7 inbound volume per channel, 8 counts by status,
#  9 paginator count, 10 destination teams, 11 their open assignments (GROUP BY team),
#  12 moves into them (GROUP BY team, state, plan), 13 the page of agents with their moves,
#  14 the page's moves with the agents' answers, checklist progress and last reminder.
BOARD_QUERIES = 14
# With ?suggest=1: agents awaiting a confirmed destination, then destination teams and their
# two seat counts again for the solver.
SUGGEST_QUERIES = BOARD_QUERIES + 4
# The staffing page: 1-4 as above, 5 staffing inputs, 6 redirect targets, 7 the plan's channels,
# 8 candidate channels, 9 destination teams, 10 their channels (prefetch), 11 their open
# assignments, 12 moves into them, 13 inbound volume per channel and hour.
STAFFING_QUERIES = 13


@pytest.mark.parametrize("n_agents", [10, 1000])
def test_board_query_count_does_not_grow_with_agents(
    client, manager, hr_coordinator, django_assert_num_queries, n_agents
):
    plan = _big_plan(manager, n_agents)
    client.force_login(hr_coordinator)
    client.get(reverse("profile"))  # first request of the session stores the person's time zone in it
    with django_assert_num_queries(BOARD_QUERIES):
        response = client.get(board(plan))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<tr id="agent-') == min(n_agents, 50)
    assert f"{n_agents} agents on this plan" in html
    with django_assert_num_queries(SUGGEST_QUERIES):
        response = client.get(board(plan, suggest=1))
    assert "The suggested plan places" in response.content.decode()


@pytest.mark.parametrize("n_agents", [10, 1000])
def test_staffing_query_count_does_not_grow_with_agents(client, manager, viewer, django_assert_num_queries, n_agents):
    plan = _big_plan(manager, n_agents)
    client.force_login(viewer)
    client.get(reverse("profile"))  # first request of the session stores the person's time zone in it
    with django_assert_num_queries(STAFFING_QUERIES):
        response = client.get(reverse("plan_staffing", args=[plan.pk]))
    assert response.status_code == 200
    assert Team.objects.count() == 4


def test_an_approved_plan_warns_that_only_confirmed_moves_will_be_applied(
    client, world, manager, approver, hr_coordinator
):
    from channels_app.tests.support.helpers import submit_and_approve

    plan = world_plan(world, manager)
    client.force_login(hr_coordinator)
    _post(client, "plan_reassignments_accept", plan, {"scope": "all"})
    _post(client, "plan_reassignments_confirm", plan, {"scope": "all"})
    submit_and_approve(plan, manager=manager, approver=approver)
    # HR changes a move after approval: it is proposed again, and the page says what that means.
    _post(
        client,
        "plan_reassignments_assign",
        plan,
        {"agent_ids": world.ids("Chen"), "to_team": "Phone EMEA", "role": "Lead"},
    )
    html = client.get(board(plan)).content.decode()
    assert "its cutover applies only confirmed moves: confirm the move of 1 agent before the hard close" in html


def test_the_board_shown_again_after_a_refusal_sends_its_forms_back_to_the_board(client, world, plan, hr_coordinator):
    client.force_login(hr_coordinator)
    # A refused move: the board comes back with the reason, at the assign URL (POST only).
    response = _post(client, "plan_reassignments_assign", plan, {"agent_ids": world.ids("Dewi"), "to_team": "Nowhere"})
    assert response.status_code == 422
    html = response.content.decode()
    next_url = html.split('id="bulk"', 1)[1].split('name="next" value="', 1)[1].split('"', 1)[0]
    assert next_url == board(plan)
    # The language menu of a page shown in answer to a POST does not send the reader back to it.
    assert html.split('name="next" value="', 1)[1].split('"', 1)[0] == "/"
    # The next form posted from that page lands on the board, not on a 405.
    _post(client, "plan_reassignments_accept", plan, {"scope": "all"})
    response = _post(client, "plan_reassignments_confirm", plan, {"agent_ids": world.ids("Eko"), "next": next_url})
    assert response.status_code == 302 and client.get(response["Location"]).status_code == 200
