"""The public notice through the API: read with the plan, written with PUT/PATCH of the plan
through update_plan (the wizard's service) with the wizard's checks; refused with a 400 naming the
locale and the field, by role (403) and once the plan is no draft (409), changing nothing."""

import pytest

from channels_app.models import AuditEvent, PublicNotice, SunsetPlan
from channels_app.plans.services.plans import PublicNoticeInput
from channels_app.tests.api.test_views import api, plan_body
from channels_app.tests.support.factories import ChannelFactory
from channels_app.tests.support.helpers import approved_plan

pytestmark = pytest.mark.django_db

EN = {
    "locale": "en",
    "text": "Support here closes on {date}: {redirect_url}",
    "moved_text": "Support has moved: {redirect_url}",
    "title": "Our support moves to the help centre",
    "body": "From {date} we answer at {redirect_url}. Thank you for being here.",
}
FR = {"locale": "fr", "text": "Le support ferme le {date}."}


@pytest.fixture
def channels(db):
    return [ChannelFactory(kind=kind, name=f"Brand {kind}") for kind in ("x", "messenger", "youtube", "discourse")]


@pytest.fixture
def plan(manager, channels):
    response = api(manager).post(
        "/api/v1/plans/", plan_body([c.pk for c in channels], public_notices=[EN, FR]), format="json"
    )
    assert response.status_code == 201, response.json()
    return SunsetPlan.objects.get(pk=response.json()["id"])


def _notices(plan) -> dict:
    return {
        n.locale: {"text": n.text, "moved_text": n.moved_text, "title": n.title, "body": n.body}
        for n in PublicNotice.objects.filter(plan=plan)
    }


def test_the_notice_is_written_with_the_plan_and_read_with_it(manager, viewer, plan):
    assert _notices(plan)["en"]["title"] == EN["title"]
    assert _notices(plan)["fr"] == {"text": FR["text"], "moved_text": "", "title": "", "body": ""}
    created = AuditEvent.objects.get(action="plan.created", object_id=str(plan.pk))
    assert [n["locale"] for n in created.after["public_notices"]] == ["en", "fr"]

    body = api(viewer).get(f"/api/v1/plans/{plan.pk}/").json()
    assert [{k: n[k] for k in ("locale", "text", "moved_text", "title", "body")} for n in body["public_notices"]] == [
        EN,
        {**FR, "moved_text": "", "title": "", "body": ""},
    ]
    listed = api(viewer).get("/api/v1/plans/").json()["results"][0]
    assert len(listed["public_notices"]) == 2


def test_patch_and_put_change_the_notice_and_keep_it_when_left_out(manager, plan, channels):
    url = f"/api/v1/plans/{plan.pk}/"
    changed = {**EN, "title": "We are moving our support to the help centre"}
    response = api(manager).patch(url, {"public_notices": [changed]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2
    assert [n["locale"] for n in response.json()["public_notices"]] == ["en"]
    assert _notices(plan)["en"]["title"] == changed["title"]
    event = AuditEvent.objects.filter(action="plan.updated", object_id=str(plan.pk)).latest("id")
    assert event.before["public_notices"][0]["title"] == EN["title"]
    assert event.after["public_notices"][0]["title"] == changed["title"]

    # Left out, by PATCH or PUT: the plan keeps its notice.
    assert api(manager).patch(url, {"title": "Retire social"}, format="json").status_code == 200
    assert api(manager).put(url, plan_body([c.pk for c in channels]), format="json").status_code == 200
    assert _notices(plan)["en"]["title"] == changed["title"]
    # An empty list removes it.
    response = api(manager).put(url, plan_body([c.pk for c in channels], public_notices=[]), format="json")
    assert response.status_code == 200 and response.json()["public_notices"] == []
    assert not PublicNotice.objects.filter(plan=plan).exists()


@pytest.mark.parametrize(
    ("notices", "said"),
    [
        ([{**EN, "text": "あ" * 150}], ["Public notice en", "announcement", "Too long for X: 300 of 280 weighted"]),
        ([{**EN, "text": "a" * 170}], ["Public notice en", "announcement", "Too long for Messenger: 170 of 160"]),
        ([{**EN, "text": "a" * 985 + "{redirect_url}"}], ["Public notice en", "Too long for YouTube"]),
        ([{**EN, "moved_text": "a" * 170}], ["Public notice en", "“has moved” text", "Too long for Messenger"]),
        ([{**EN, "title": "Moving"}], ["Public notice en", "forum title", "Too short for Discourse: 6 characters"]),
        ([{**EN, "body": ""}], ["Public notice en", "forum body", "Write it: Discourse publishes it."]),
        ([{**EN, "text": "   "}], ["Public notice en", "announcement", "Write it:"]),
        ([EN, {**FR, "text": "a" * 170}], ["Public notice fr", "Too long for Messenger: 170 of 160"]),
        ([EN, {**FR, "text": "Bonjour {customer_name}"}], ["Public notice fr", "{customer_name}"]),
        ([FR], ["default locale (en)"]),
        ([EN, EN], ["Public notice en: written twice."]),
    ],
)
def test_what_the_wizard_refuses_is_a_400_naming_the_locale_and_field(manager, plan, notices, said):
    before = _notices(plan)
    response = api(manager).patch(f"/api/v1/plans/{plan.pk}/", {"public_notices": notices}, format="json")
    assert response.status_code == 400, response.json()
    messages = " ".join(response.json()["errors"]["public_notices"])
    for part in said:
        assert part in messages, messages
    assert response.json()["detail"].startswith("public_notices: ")
    plan.refresh_from_db()
    assert plan.version == 1 and _notices(plan) == before


@pytest.mark.parametrize(
    ("notice", "where", "said"),
    [
        ({**EN, "locale": "xx"}, "locale", "“xx” is not one of the plan's languages"),
        ({**EN, "locale": "de-CH"}, "locale", "not one of the plan's languages"),
        ({**EN, "txt": "typo"}, "txt", "cannot be set here"),
        ({**EN, "title": "t" * 256}, "title", "no more than 255 characters"),
        ({**EN, "text": "a" * 1001}, "text", "no more than 1000 characters"),
        ({**EN, "body": 12}, "body", "Expected a string."),
        ({"locale": "en"}, "text", "Write at least one of"),
    ],
)
def test_shape_errors_name_the_notice_and_its_field(manager, plan, notice, where, said):
    before = _notices(plan)
    response = api(manager).patch(f"/api/v1/plans/{plan.pk}/", {"public_notices": [notice]}, format="json")
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]["public_notices"]
    assert said in " ".join(errors["0"][where]), errors
    assert response.json()["detail"].startswith(f"public_notices[0].{where}: ")
    assert _notices(plan) == before


def test_a_nul_byte_is_refused(manager, plan):
    response = api(manager).patch(
        f"/api/v1/plans/{plan.pk}/", {"public_notices": [{**EN, "text": "closes\x00"}]}, format="json"
    )
    assert response.status_code == 400
    assert _notices(plan)["en"]["text"] == EN["text"]


def test_a_plan_in_the_default_locale_of_its_own_may_be_written_in_it(manager, channels):
    body = plan_body([c.pk for c in channels], default_locale="sv", public_notices=[{**EN, "locale": "sv"}])
    response = api(manager).post("/api/v1/plans/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["public_notices"][0]["locale"] == "sv"


@pytest.mark.parametrize("role", ["viewer", "approver", "hr_coordinator"])
def test_roles_that_do_not_draft_plans_get_403(request, plan, role):
    person = request.getfixturevalue(role)
    before = _notices(plan)
    url = f"/api/v1/plans/{plan.pk}/"
    response = api(person).patch(url, {"public_notices": [{**EN, "title": "Changed by someone else"}]}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "Your role does not allow: draft plan."
    assert api(person).get(url).status_code == 200
    assert _notices(plan) == before


def test_a_plan_that_is_no_draft_is_a_409_and_keeps_its_notice(manager, approver):
    forum = ChannelFactory(kind="discourse", name="Brand forum")
    plan = approved_plan(
        manager=manager,
        approver=approver,
        channels=[forum],
        public_notices=[PublicNoticeInput("en", "Closing", EN["moved_text"], EN["title"], EN["body"])],
    )
    response = api(manager).patch(
        f"/api/v1/plans/{plan.pk}/", {"public_notices": [{**EN, "title": "A new title for it"}]}, format="json"
    )
    assert response.status_code == 409
    assert "only a draft plan can be edited" in response.json()["detail"]
    assert _notices(plan)["en"]["title"] == EN["title"]
