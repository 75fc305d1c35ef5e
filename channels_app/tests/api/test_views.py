"""The REST API: every action of the lifecycle reachable, errors with messages,
nothing changed on bad input."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from channels_app.models import Agent, AgentNotice, AuditEvent, Channel, PlanState, Reassignment, SunsetPlan, Team
from channels_app.plans.services.plans import approve_plan, confirm_reassignments, submit_plan
from channels_app.tests.support.factories import (
    AgentFactory,
    AssignmentFactory,
    ChannelFactory,
    CutoverRunFactory,
    TeamFactory,
)
from channels_app.tests.support.helpers import HARD_CLOSE_REPLY, approved_plan, hard_close_plan, submit_and_approve
from channels_app.workforce.services.moves import assign_agents

pytestmark = pytest.mark.django_db

FUTURE = date(2030, 10, 1)  # 1 October: summer time in Los Angeles


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def plan_body(channel_ids, **overrides) -> dict:
    body = {
        "title": "Retire X support",
        "default_locale": "en",
        "channels": channel_ids,
        "phases": [
            {
                "kind": "notice",
                "local_date": str(FUTURE - timedelta(days=14)),
                "local_time": "09:00",
                "time_zone": "Europe/Dublin",
            },
            {
                "kind": "hard_close",
                "local_date": str(FUTURE),
                "local_time": "00:00",
                "time_zone": "America/Los_Angeles",
            },
        ],
        "redirects": [
            {"kind": "phone", "label": "Phone", "value": "+1 800 555 0100"},
            {"kind": "url", "label": "Web form", "value": "https://help.example.com/contact"},
        ],
        "auto_replies": [{"phase_kind": "hard_close", "locale": "en", "text": HARD_CLOSE_REPLY}],
    }
    body.update(overrides)
    return body


def test_manager_drafts_a_plan_with_local_times_and_gets_utc_instants(manager, x_channel):
    response = api(manager).post("/api/v1/plans/", plan_body([x_channel.pk]), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "draft"
    assert body["author"] == "maya"
    assert body["approved_by"] is None
    hard = next(p for p in body["phases"] if p["kind"] == "hard_close")
    assert hard["time_zone"] == "America/Los_Angeles"
    assert hard["instant"].endswith("07:00:00Z")  # midnight in Los Angeles (PDT) is 07:00 UTC
    assert [c["name"] for c in body["channels"]] == ["Brand on X"]
    assert body["auto_replies"][0]["placeholders"] == ["customer_name", "phone", "redirect_url", "reference"]
    assert AuditEvent.objects.filter(action="plan.created", object_id=str(body["id"])).exists()


def test_the_whole_lifecycle_goes_through_the_api(manager, approver, x_channel):
    created = api(manager).post("/api/v1/plans/", plan_body([x_channel.pk]), format="json").json()
    plan_url = f"/api/v1/plans/{created['id']}/"
    assert api(manager).post(plan_url + "submit/").json()["state"] == "pending_approval"
    rejected = api(approver).post(plan_url + "reject/", {"comment": "Add the French reply"}, format="json")
    assert rejected.status_code == 200 and rejected.json()["state"] == "draft"
    assert rejected.json()["review_comment"] == "Add the French reply"
    api(manager).post(plan_url + "submit/")
    approved = api(approver).post(plan_url + "approve/", {"comment": "ok"}, format="json").json()
    assert approved["state"] == "scheduled"
    assert approved["approved_by"] == "arjun"
    assert {p["state"] for p in approved["phases"]} == {"scheduled"}
    hard = next(p for p in approved["phases"] if p["kind"] == "hard_close")
    moved = api(manager).post(
        f"{plan_url}phases/{hard['id']}/reschedule/",
        {"local_date": str(FUTURE + timedelta(days=1)), "local_time": "06:30", "time_zone": "Asia/Jakarta"},
        format="json",
    )
    assert moved.status_code == 200, moved.json()
    assert moved.json()["instant"].endswith("23:30:00Z")  # 06:30 in Jakarta (UTC+7)
    cancelled = api(manager).post(plan_url + "cancel/", {"reason": "brand changed its mind"}, format="json").json()
    assert cancelled["state"] == "cancelled"
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == [
        "plan.created",
        "plan.submitted",
        "plan.rejected",
        "plan.submitted",
        "plan.approved",
        "phase.rescheduled",
        "plan.returned_to_approval",
        "plan.cancelled",
    ]


def test_invalid_plan_is_a_400_with_field_messages_and_nothing_is_written(manager, x_channel):
    body = plan_body([x_channel.pk])
    body["phases"][1]["time_zone"] = "Mars/Olympus_Mons"
    body["auto_replies"][0]["text"] = "Hi {customer_name}, call {phone_number}"
    response = api(manager).post("/api/v1/plans/", body, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "Unknown time zone" in " ".join(errors["phases"])
    assert "{phone_number}" in " ".join(errors["auto_replies"])
    assert response.json()["detail"]
    assert not SunsetPlan.objects.exists()
    assert not AuditEvent.objects.exists()


def test_shape_errors_name_the_nested_field(manager, x_channel):
    body = plan_body([x_channel.pk])
    body["phases"][0]["local_date"] = "the first of october"
    response = api(manager).post("/api/v1/plans/", body, format="json")
    assert response.status_code == 400
    assert "local_date" in response.json()["errors"]["phases"]["0"]
    assert response.json()["detail"].startswith("phases[0].local_date: Date has wrong format.")


def test_editing_a_plan_that_is_not_a_draft_is_a_409(manager, approver, x_channel):
    plan = approved_plan(manager=manager, approver=approver, channels=[x_channel])
    response = api(manager).patch(f"/api/v1/plans/{plan.pk}/", {"title": "Renamed"}, format="json")
    assert response.status_code == 409
    assert "only a draft plan can be edited" in response.json()["detail"]
    plan.refresh_from_db()
    assert plan.title != "Renamed"


def test_patch_changes_only_what_it_names(manager, x_channel):
    plan = hard_close_plan(manager=manager, channels=[x_channel])
    response = api(manager).patch(f"/api/v1/plans/{plan.pk}/", {"title": "Retire X, gently"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["title"] == "Retire X, gently"
    assert response.json()["version"] == 2
    assert len(response.json()["auto_replies"]) == 1
    assert len(response.json()["redirects"]) == 2


def test_author_cannot_approve_own_plan_through_the_api(manager, x_channel):
    manager.groups.add(*manager.groups.model.objects.filter(name="approver"))
    plan = hard_close_plan(manager=manager, channels=[x_channel])
    submit_plan(actor=manager, plan=plan)
    response = api(manager).post(f"/api/v1/plans/{plan.pk}/approve/", {}, format="json")
    assert response.status_code == 403
    assert "second person" in response.json()["detail"]
    plan.refresh_from_db()
    assert plan.state == PlanState.PENDING_APPROVAL


def test_role_without_the_action_gets_403_with_a_message(viewer, x_channel):
    response = api(viewer).post("/api/v1/plans/", plan_body([x_channel.pk]), format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "Your role does not allow: draft plan."
    assert not SunsetPlan.objects.exists()


def test_anonymous_gets_401_with_a_bearer_challenge():
    response = api().get("/api/v1/plans/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_objects_and_ids_out_of_range_are_404(viewer):
    for url in ("/api/v1/plans/999999/", f"/api/v1/plans/{2**70}/", "/api/v1/channels/0/"):
        response = api(viewer).get(url)
        assert response.status_code == 404, url
        assert (
            response.json() == {"detail": "No SunsetPlan matches the given query.", "errors": {}}
            or response.json()["detail"]
        )


def test_preview_reports_what_a_phase_would_change_and_changes_nothing(manager, approver):
    channel = ChannelFactory(kind="x")
    team = TeamFactory(name="Social care")
    team.channels.add(channel)
    AssignmentFactory(team=team)
    # A draft: the agent has no destination yet, which the preview reports.
    plan = hard_close_plan(manager=manager, channels=[channel])
    events = AuditEvent.objects.count()
    response = api(manager).get(f"/api/v1/plans/{plan.pk}/preview/")
    assert response.status_code == 200
    body = response.json()
    assert body["changes_nothing"] is True
    (phase,) = body["phases"]
    assert phase["channel_changes"] == [
        {"channel": channel.pk, "name": channel.name, "state_before": "active", "state_after": "retired"}
    ]
    assert phase["agents_without_destination"] == 1
    assert AuditEvent.objects.count() == events
    channel.refresh_from_db()
    assert channel.state == "active"


def test_auto_reply_render_preview_counts_x_weighted_length(manager, x_channel):
    plan = hard_close_plan(manager=manager, channels=[x_channel])
    response = api(manager).post(
        "/api/v1/auto-replies/render/",
        {"text": "Support moved: {redirect_url} 😀", "plan": plan.pk, "platforms": ["x", "messenger"]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    renders = {r["platform"]: r for r in response.json()["renders"]}
    assert renders["x"]["rendered"] == "Support moved: https://help.example.com/contact 😀"
    # 15 characters + a URL (23) + a space + an emoji (2) = 41 weighted characters on X
    assert renders["x"]["length"] == 41
    assert renders["x"]["limit"] == 280 and renders["x"]["fits"] is True
    assert renders["messenger"]["length"] == len(renders["messenger"]["rendered"])
    too_long = api(manager).post("/api/v1/auto-replies/render/", {"text": "é" * 300, "platforms": ["x"]}, format="json")
    (x,) = too_long.json()["renders"]
    assert x["fits"] is False
    assert "Too long for X: 300 of 280" in x["problems"][0]


def test_auto_reply_render_preview_writes_the_date_in_the_replys_language(manager, x_channel):
    plan = hard_close_plan(manager=manager, channels=[x_channel], at=datetime(2027, 10, 1, 9, 0, tzinfo=UTC))
    rendered = {}
    for locale in ("fr", "id", None):
        body = {"text": "{date}", "plan": plan.pk, "platforms": ["x"]} | ({"locale": locale} if locale else {})
        response = api(manager).post("/api/v1/auto-replies/render/", body, format="json")
        assert response.status_code == 200, response.json()
        rendered[locale] = response.json()["renders"][0]["rendered"]
    assert rendered == {"fr": "1 octobre 2027", "id": "1 Oktober 2027", None: "1 October 2027"}  # None: the plan's en
    refused = api(manager).post("/api/v1/auto-replies/render/", {"text": "{date}", "locale": "<fr>"}, format="json")
    assert refused.status_code == 400 and "locale" in refused.json()["errors"]


def test_stored_auto_reply_preview_uses_the_plans_channels(manager, x_channel):
    plan = hard_close_plan(manager=manager, channels=[x_channel, ChannelFactory(kind="discourse")])
    reply = plan.auto_replies.get()
    response = api(manager).get(f"/api/v1/auto-replies/{reply.pk}/preview/")
    assert response.status_code == 200
    assert [r["platform"] for r in response.json()["renders"]] == ["discourse", "x"]
    assert "+1 800 555 0100" in response.json()["renders"][0]["rendered"]


@pytest.fixture
def staffed_plan(manager):
    channel = ChannelFactory(kind="x")
    social = TeamFactory(name="Social care")
    social.channels.add(channel)
    agents = [AssignmentFactory(team=social).agent for _ in range(3)]
    phone = TeamFactory(name="Phone")
    plan = hard_close_plan(manager=manager, channels=[channel])
    return plan, agents, phone


def test_hr_reassigns_agents_in_bulk_then_confirms(hr_coordinator, staffed_plan):
    plan, agents, phone = staffed_plan
    items = [{"agent": a.pk, "to_team": phone.pk, "effective_date": str(FUTURE), "role": "Phone agent"} for a in agents]
    response = api(hr_coordinator).post(f"/api/v1/plans/{plan.pk}/reassignments/", {"items": items}, format="json")
    assert response.status_code == 200, response.json()
    assert {r["to_team_name"] for r in response.json()["reassignments"]} == {"Phone"}
    confirmed = api(hr_coordinator).post(f"/api/v1/plans/{plan.pk}/reassignments/confirm/", {}, format="json")
    assert confirmed.json() == {"confirmed": 3}
    listed = api(hr_coordinator).get("/api/v1/reassignments/", {"plan": plan.pk, "state": "confirmed"}).json()
    assert listed["count"] == 3


def test_a_move_to_another_site_is_labelled_a_relocation(hr_coordinator, staffed_plan):
    plan, agents, phone = staffed_plan
    Agent.objects.filter(pk=agents[0].pk).update(site="Jakarta", time_zone="Asia/Jakarta")
    Agent.objects.filter(pk__in=[a.pk for a in agents[1:]]).update(time_zone="Europe/Dublin")
    items = [{"agent": a.pk, "to_team": phone.pk, "effective_date": str(FUTURE)} for a in agents]
    rows = api(hr_coordinator).post(f"/api/v1/plans/{plan.pk}/reassignments/", {"items": items}, format="json").json()
    by_agent = {r["agent"]: r["relocation"] for r in rows["reassignments"]}
    assert by_agent[agents[0].pk] == {
        "from_site": "Jakarta",
        "from_time_zone": "Asia/Jakarta",
        "to_site": "Dublin",
        "to_time_zone": "Europe/Dublin",
        "label": "Relocation: Jakarta (Asia/Jakarta) → Dublin (Europe/Dublin)",
    }
    assert by_agent[agents[1].pk] is None and by_agent[agents[2].pk] is None
    listed = api(hr_coordinator).get("/api/v1/reassignments/", {"plan": plan.pk}).json()["results"]
    assert [r["relocation"] is not None for r in sorted(listed, key=lambda r: r["agent"])] == [True, False, False]


def test_bulk_reassignment_is_all_or_nothing(hr_coordinator, staffed_plan):
    plan, agents, phone = staffed_plan
    outsider_agent = AgentFactory()
    items = [
        {"agent": agents[0].pk, "to_team": phone.pk, "effective_date": str(FUTURE)},
        {"agent": outsider_agent.pk, "to_team": phone.pk, "effective_date": str(FUTURE)},
        {"agent": agents[1].pk, "to_team": 987654, "effective_date": str(FUTURE)},
    ]
    response = api(hr_coordinator).post(f"/api/v1/plans/{plan.pk}/reassignments/", {"items": items}, format="json")
    assert response.status_code == 400
    messages = response.json()["errors"]["items"]
    assert (
        f"Item 2 (agent): Not affected by this plan: {outsider_agent.name} ({outsider_agent.employee_id})." in messages
    )
    assert "Item 3 (to_team): There is no team with id 987654." in messages
    assert not Reassignment.objects.exists()


def test_directory_crud_goes_through_services_and_is_audited(manager, hr_coordinator):
    created = api(manager).post("/api/v1/channels/", {"kind": "youtube", "name": "Brand on YouTube"}, format="json")
    assert created.status_code == 201
    channel_id = created.json()["id"]
    renamed = api(manager).patch(f"/api/v1/channels/{channel_id}/", {"handle": "@brand"}, format="json")
    assert renamed.json()["handle"] == "@brand"
    team = api(hr_coordinator).post(
        "/api/v1/teams/",
        {
            "name": "Phone EMEA",
            "capacity": 40,
            "languages": ["en", "fr"],
            "time_zone": "Europe/Dublin",
            "channels": [channel_id],
        },
        format="json",
    )
    assert team.status_code == 201, team.json()
    assert team.json()["channels"] == [channel_id]
    agent = api(hr_coordinator).post(
        "/api/v1/agents/",
        {
            "employee_id": "E1",
            "name": "Chloé Martin",
            "email": "chloe@example.com",
            "team": team.json()["id"],
            "starts_on": "2026-01-05",
        },
        format="json",
    )
    assert agent.status_code == 201, agent.json()
    assert agent.json()["current_teams"] == [
        {"team": team.json()["id"], "team_name": "Phone EMEA", "role": "Agent", "starts_on": "2026-01-05"}
    ]
    bad = api(hr_coordinator).post(
        "/api/v1/teams/", {"name": "Bad", "capacity": 3, "time_zone": "Nowhere/Else"}, format="json"
    )
    assert bad.status_code == 400
    assert "Unknown time zone" in bad.json()["errors"]["time_zone"][0]
    assert not Team.objects.filter(name="Bad").exists()
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {
        "channel.registered",
        "channel.updated",
        "team.created",
        "agent.created",
    }


def test_lists_filter_search_order_and_paginate(viewer):
    for i, letter in enumerate("ABCDEFG"):
        ChannelFactory(kind="x" if i % 2 else "youtube", name=f"Channel {letter}")
    page = api(viewer).get("/api/v1/channels/", {"kind": "x", "ordering": "-name", "page_size": 2}).json()
    assert page["count"] == 3
    assert [c["name"] for c in page["results"]] == ["Channel F", "Channel D"]
    assert page["next"] is not None
    assert api(viewer).get("/api/v1/channels/", {"search": "channel g"}).json()["count"] == 1
    bad = api(viewer).get("/api/v1/channels/", {"kind": "myspace"})
    assert bad.status_code == 400
    assert "myspace" in bad.json()["detail"]
    assert api(viewer).get("/api/v1/channels/", {"page": 99}).status_code == 404


def test_runs_show_progress_per_step(manager, approver):

    plan = approved_plan(manager=manager, approver=approver, channels=[ChannelFactory()])
    phase = plan.phases.get()
    run = CutoverRunFactory(
        phase=phase,
        plan=plan,
        queued_at=timezone.now(),
        state="running",
        current_step="conversations",
        steps={
            "freeze": {"state": "done"},
            "channels": {"state": "done"},
            "conversations": {"state": "running", "done": 5000, "total": 12000},
        },
    )
    body = api(approver).get(f"/api/v1/runs/{run.pk}/").json()
    assert body["current_step"] == "conversations"
    conversations = next(s for s in body["progress"] if s["step"] == "conversations")
    assert (conversations["done"], conversations["total"]) == (5000, 12000)
    assert body["percent_done"] == pytest.approx(25.0)  # 2 of 8 steps (public notice and delivering are two)
    assert api(approver).get("/api/v1/runs/", {"plan": plan.pk}).json()["count"] == 1


def test_audit_trail_is_read_only_and_filterable(manager, hr_coordinator, x_channel):
    plan = hard_close_plan(manager=manager, channels=[x_channel])
    listed = api(manager).get("/api/v1/audit-events/", {"object_type": "sunsetplan", "object_id": plan.pk}).json()
    assert [e["action"] for e in listed["results"]] == ["plan.created"]
    event_url = f"/api/v1/audit-events/{listed['results'][0]['id']}/"
    for method in ("put", "patch", "delete"):
        assert getattr(api(manager), method)(event_url, {}, format="json").status_code == 405
    assert api(hr_coordinator).get("/api/v1/audit-events/").status_code == 403


def test_api_responses_forbid_active_content(viewer):
    response = api(viewer).get("/api/v1/plans/")
    assert response["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert response["Cache-Control"] == "no-store"


def test_rate_limit_answers_429_with_retry_after(viewer, settings):
    from django.core.cache import cache

    cache.clear()
    settings.DUSK_API_RATE_USER = "3/minute"
    client = api(viewer)
    codes = [client.get("/api/v1/channels/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get("/api/v1/channels/")
    assert int(limited["Retry-After"]) > 0
    assert "throttled" in limited.json()["detail"].lower()
    cache.clear()


@pytest.mark.parametrize(
    ("url", "method", "body"),
    [
        ("/api/v1/plans/", "post", None),
        ("/api/v1/plans/{plan}/", "patch", None),
    ],
)
def test_mass_assignment_of_state_author_and_approver_is_refused(manager, approver, x_channel, url, method, body):
    plan = hard_close_plan(manager=manager, channels=[x_channel])
    events = AuditEvent.objects.count()
    payload = {
        **plan_body([x_channel.pk], title="Sneaky"),
        "state": "scheduled",
        "author": approver.pk,
        "approved_by": approver.pk,
        "approved_at": "2030-01-01T00:00:00Z",
        "is_superuser": True,
    }
    if method == "post":
        SunsetPlan.objects.all().delete()  # the channel must be free for a new plan
        events = AuditEvent.objects.count()
    response = getattr(api(manager), method)(url.format(plan=plan.pk), payload, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    for field in ("state", "author", "approved_by", "approved_at", "is_superuser"):
        assert errors[field] == ["This field cannot be set here (unknown or read-only)."]
    assert AuditEvent.objects.count() == events
    for left in SunsetPlan.objects.all():
        assert (left.state, left.author_id, left.approved_by_id, left.title) == (
            "draft",
            manager.pk,
            None,
            "Retire social support",
        )


def test_mass_assignment_in_nested_items_and_channel_state_is_refused(manager, x_channel):
    body = plan_body([x_channel.pk])
    body["phases"][0]["state"] = "completed"
    response = api(manager).post("/api/v1/plans/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["phases"]["0"]["state"] == [
        "This field cannot be set here (unknown or read-only)."
    ]
    changed = api(manager).patch(f"/api/v1/channels/{x_channel.pk}/", {"state": "retired"}, format="json")
    assert changed.status_code == 400
    assert Channel.objects.get(pk=x_channel.pk).state == "active"


def test_unknown_ordering_and_repeated_parameters_are_400(viewer):
    bad_order = api(viewer).get("/api/v1/plans/", {"ordering": "-secret_field"})
    assert bad_order.status_code == 400
    assert "Cannot order by -secret_field; use created_at, state, title, updated_at." in bad_order.json()["detail"]
    assert api(viewer).get("/api/v1/plans/?search=a&search=b").json()["errors"] == {
        "search": ["Give this parameter once."]
    }
    assert api(viewer).get("/api/v1/plans/?state=draft&state=scheduled").status_code == 200
    assert api(viewer).get("/api/v1/plans/?page_size=%C2%B9").status_code == 400


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"kind": "x", "name": 5}, "name", "Expected a string."),
        (
            {"kind": "x", "name": "n", "rate_limit_per_minute": "60"},
            "rate_limit_per_minute",
            "Expected a whole number.",
        ),
        ({"kind": "x", "name": "n", "api_base_url": "ftp://example.com"}, "api_base_url", "Enter an http(s) URL"),
    ],
)
def test_values_of_the_wrong_json_type_are_refused(manager, body, field, message):
    response = api(manager).post("/api/v1/channels/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][field][0].startswith(message)
    assert not Channel.objects.exists()


def test_browser_sessions_need_the_csrf_token_to_write(manager):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(manager)
    refused = browser.post("/api/v1/channels/", {"kind": "x", "name": "Brand"}, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert browser.get("/api/v1/channels/").status_code == 200  # reading needs no token
    assert not Channel.objects.exists()


def test_patching_the_phases_needs_complete_phases(manager, x_channel):
    plan = hard_close_plan(manager=manager, channels=[x_channel])
    response = api(manager).patch(f"/api/v1/plans/{plan.pk}/", {"phases": [{"kind": "hard_close"}]}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]["phases"]["0"]) == {"local_date", "local_time", "time_zone"}
    moved = api(manager).patch(
        f"/api/v1/plans/{plan.pk}/",
        {"phases": [{"kind": "hard_close", "local_date": "2030-10-01", "local_time": "00:00", "time_zone": "UTC"}]},
        format="json",
    )
    assert moved.status_code == 200, moved.json()
    assert moved.json()["phases"][0]["instant"] == "2030-10-01T00:00:00Z"
    assert moved.json()["title"] == "Retire social support"


@pytest.mark.parametrize(
    "url", ["/api/v1/plans/", "/api/v1/agents/", "/api/v1/teams/", "/api/v1/reassignments/", "/api/v1/runs/"]
)
def test_list_cost_does_not_grow_with_the_rows(manager, approver, hr_coordinator, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add_rows(n: int) -> None:
        for _ in range(n):
            channel = ChannelFactory()
            team = TeamFactory()
            team.channels.add(channel)
            agent = AssignmentFactory(team=team).agent
            plan = hard_close_plan(manager=manager, channels=[channel])
            assign_agents(
                actor=hr_coordinator, plan=plan, agent_ids=[agent.pk], to_team=TeamFactory(), effective_date=FUTURE
            )
            confirm_reassignments(actor=hr_coordinator, plan=plan)
            submit_and_approve(plan, manager=manager, approver=approver)

            CutoverRunFactory(phase=plan.phases.get(), plan=plan, queued_at=timezone.now())

    client = api(manager)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    add_rows(2)
    few = count()
    add_rows(8)
    # Same number of queries for 2 and 10 rows: session/user/roles, count, page, and one per prefetched relation.
    assert count() == few


def test_an_email_channel_takes_an_imap_mailbox_and_says_what_is_wrong_with_one(manager):
    channel = {"kind": "email", "name": "Support mailbox", "handle": "support@brand.example"}
    refused = api(manager).post(
        "/api/v1/channels/", {**channel, "api_base_url": "imaps://imap.brand.example/INBOX"}, format="json"
    )
    assert refused.status_code == 400
    assert "password" in str(refused.json()["errors"]["api_token_env"])
    bad_scheme = api(manager).post("/api/v1/channels/", {**channel, "api_base_url": "pop3://h/"}, format="json")
    assert "imaps:// mailbox" in str(bad_scheme.json()["errors"]["api_base_url"])
    created = api(manager).post(
        "/api/v1/channels/",
        {
            **channel,
            "api_base_url": "imaps://imap.brand.example/INBOX",
            "api_token_env": "DUSK_CHANNEL_SUPPORT_IMAP_PASSWORD",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["api_base_url"] == "imaps://imap.brand.example/INBOX"


def test_mailbox_url_and_filter_errors_answer_in_the_readers_language(manager, viewer):
    channel = {"kind": "email", "name": "Support mailbox", "handle": "support@brand.example"}
    no_host = api(manager).post(
        "/api/v1/channels/",
        {
            **channel,
            "api_base_url": "imaps://support:secret@imap.brand.example/INBOX",
            "api_token_env": "DUSK_CHANNEL_P",
        },
        format="json",
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert no_host.status_code == 400
    assert no_host.json()["errors"]["api_base_url"] == [
        "Ne mettez pas le mot de passe dans l'URL de la boîte aux lettres : indiquez le nom de sa variable "
        "d'environnement dans le champ du jeton d'API."
    ]
    clear = api(manager).post(
        "/api/v1/channels/",
        {**channel, "api_base_url": "imap://imap.brand.example/INBOX?tls=none&x=1", "api_token_env": "DUSK_CHANNEL_P"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert clear.json()["errors"]["api_base_url"] == [
        "Option inconnue dans l'URL de la boîte aux lettres : x (seule tls=none est acceptée)."
    ]
    other_scheme = api(manager).post(
        "/api/v1/channels/",
        {**channel, "api_base_url": "ftp://files.brand.example/"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert other_scheme.json()["errors"]["api_base_url"] == [
        "Saisissez une URL http(s), une boîte aux lettres imaps:// pour un canal e-mail, ou rien."
    ]
    bad_order = api(viewer).get("/api/v1/plans/", {"ordering": "-secret_field"}, HTTP_ACCEPT_LANGUAGE="fr")
    assert bad_order.status_code == 400
    assert "Impossible de trier par -secret_field ; utilisez created_at, state, title, updated_at." in str(
        bad_order.json()
    )
    repeated = api(viewer).get("/api/v1/plans/?search=a&search=b", HTTP_ACCEPT_LANGUAGE="fr")
    assert repeated.json()["errors"] == {"search": ["Indiquez ce paramètre une seule fois."]}


def test_agents_are_emailed_through_the_api_only_once_the_plan_is_approved(
    manager, approver, hr_coordinator, staffed_plan, smtp_settings
):
    plan, agents, phone = staffed_plan
    items = [{"agent": a.pk, "to_team": phone.pk, "effective_date": str(FUTURE)} for a in agents]
    api(hr_coordinator).post(f"/api/v1/plans/{plan.pk}/reassignments/", {"items": items}, format="json")
    api(hr_coordinator).post(f"/api/v1/plans/{plan.pk}/reassignments/confirm/", {}, format="json")
    refused = api(hr_coordinator).post(f"/api/v1/plans/{plan.pk}/reassignments/notify/", {}, format="json")
    assert refused.status_code == 409
    assert "once the plan is approved" in refused.json()["detail"]
    assert not AgentNotice.objects.exists()
    submit_plan(actor=manager, plan=plan)
    approve_plan(actor=approver, plan=plan)
    assert api(manager).post(f"/api/v1/plans/{plan.pk}/reassignments/notify/", {}, format="json").status_code == 403
    done = api(hr_coordinator).post(
        f"/api/v1/plans/{plan.pk}/reassignments/notify/", {"agents": [agents[0].pk]}, format="json"
    )
    assert done.status_code == 200, done.json()
    assert done.json() == {"queued": 1, "requeued": 0, "already": 0, "unconfirmed": 0, "without_email": []}
    again = api(hr_coordinator).post(f"/api/v1/plans/{plan.pk}/reassignments/notify/", {}, format="json").json()
    assert (again["queued"], again["already"]) == (2, 1)


def test_a_browser_gets_json_not_a_page_the_apis_policy_would_break(client, viewer):
    # The browsable API's pages need inline scripts and styles that the API's CSP blocks.
    client.force_login(viewer)
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = client.get("/api/v1/plans/", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "results" in response.json()
    assert client.get("/api/v1/plans/?format=api").status_code == 404
