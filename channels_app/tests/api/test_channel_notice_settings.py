"""A channel's notice settings through the API: shown on every channel, written for a forum
through update_channel (audited), refused (400 naming what is wrong) for bad values, unknown keys
and other platforms, changing nothing."""

import pytest

from channels_app.models import AuditEvent, Channel
from channels_app.tests.api.test_views import api
from channels_app.tests.support.factories import ChannelFactory

pytestmark = pytest.mark.django_db

SET = {"announcement_category": 12, "read_only_categories": [12, 13]}


@pytest.fixture
def forum(db):
    return ChannelFactory(kind="discourse", name="Brand forum", notice_settings=SET)


def test_every_channel_shows_its_notice_settings(viewer, forum, x_channel):
    assert api(viewer).get(f"/api/v1/channels/{forum.pk}/").json()["notice_settings"] == SET
    assert api(viewer).get(f"/api/v1/channels/{x_channel.pk}/").json()["notice_settings"] == {
        "announcement_category": None,
        "read_only_categories": [],
    }


def test_a_forums_settings_are_written_checked_and_audited(manager, forum):
    url = f"/api/v1/channels/{forum.pk}/"
    body = {"notice_settings": {"announcement_category": 40, "read_only_categories": [41, 42, 41]}}
    response = api(manager).patch(url, body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["notice_settings"] == {"announcement_category": 40, "read_only_categories": [41, 42]}
    forum.refresh_from_db()
    assert forum.notice_settings == {"announcement_category": 40, "read_only_categories": [41, 42]}
    event = AuditEvent.objects.get(action="channel.updated", object_id=str(forum.pk))
    assert event.before["notice_settings"] == SET and event.after["notice_settings"] == forum.notice_settings

    # null and an empty list unset them; another field's PATCH leaves them alone.
    assert api(manager).patch(url, {"handle": "forum.example.com"}, format="json").status_code == 200
    forum.refresh_from_db()
    assert forum.notice_settings["announcement_category"] == 40
    body = {"notice_settings": {"announcement_category": None, "read_only_categories": []}}
    assert api(manager).patch(url, body, format="json").json()["notice_settings"] == {
        "announcement_category": None,
        "read_only_categories": [],
    }
    forum.refresh_from_db()
    assert forum.notice_settings == {}


def test_a_new_forum_may_be_registered_with_them(manager):
    body = {"kind": "discourse", "name": "New forum", "notice_settings": {"announcement_category": 5}}
    response = api(manager).post("/api/v1/channels/", body, format="json")
    assert response.status_code == 201, response.json()
    assert Channel.objects.get(name="New forum").notice_settings == {"announcement_category": 5}


@pytest.mark.parametrize(
    ("value", "where", "said"),
    [
        ({"announcement_category": 12, "pinned": True}, "pinned", "cannot be set here"),
        ({"announcement_category": -1}, "announcement_category", "greater than or equal to 1"),
        ({"announcement_category": 0}, "announcement_category", "greater than or equal to 1"),
        ({"announcement_category": 2**31}, "announcement_category", "less than or equal to 2147483647"),
        ({"announcement_category": "12"}, "announcement_category", "Expected a whole number."),
        ({"announcement_category": 1.5}, "announcement_category", "Expected a whole number."),
        ({"announcement_category": True}, "announcement_category", "Expected a whole number."),
        ({"read_only_categories": [12, "x"]}, "read_only_categories", "Expected a whole number."),
        ({"read_only_categories": [12, -3]}, "read_only_categories", "greater than or equal to 1"),
        ({"read_only_categories": 12}, "read_only_categories", "Expected a list."),
        ({"read_only_categories": list(range(1, 102))}, "read_only_categories", "no more than 100"),
    ],
)
def test_bad_values_and_unknown_keys_are_a_400_naming_them(manager, forum, value, where, said):
    response = api(manager).patch(f"/api/v1/channels/{forum.pk}/", {"notice_settings": value}, format="json")
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]["notice_settings"]
    assert said in str(errors[where]), errors
    assert response.json()["detail"].startswith(f"notice_settings.{where}")
    forum.refresh_from_db()
    assert forum.notice_settings == SET
    assert not AuditEvent.objects.filter(action="channel.updated").exists()


def test_settings_that_are_no_object_are_refused(manager, forum):
    for value in ("12", [12], 12):
        response = api(manager).patch(f"/api/v1/channels/{forum.pk}/", {"notice_settings": value}, format="json")
        assert response.status_code == 400, value
    forum.refresh_from_db()
    assert forum.notice_settings == SET


def test_other_platforms_refuse_them(manager, x_channel):
    body = {"notice_settings": {"announcement_category": 12}}
    response = api(manager).patch(f"/api/v1/channels/{x_channel.pk}/", body, format="json")
    assert response.status_code == 400
    assert "Only a community forum (Discourse) channel has notice settings." in response.json()["detail"]
    x_channel.refresh_from_db()
    assert x_channel.notice_settings == {}
    # Nothing set is nothing to refuse.
    body = {"notice_settings": {"announcement_category": None, "read_only_categories": []}}
    assert api(manager).patch(f"/api/v1/channels/{x_channel.pk}/", body, format="json").status_code == 200
    # Registering one with them is refused too, and nothing is registered.
    body = {"kind": "youtube", "name": "Brand on YouTube", "notice_settings": {"read_only_categories": [3]}}
    assert api(manager).post("/api/v1/channels/", body, format="json").status_code == 400
    assert not Channel.objects.filter(name="Brand on YouTube").exists()


@pytest.mark.parametrize("role", ["viewer", "approver", "hr_coordinator"])
def test_roles_that_do_not_manage_channels_get_403(request, forum, role):
    person = request.getfixturevalue(role)
    body = {"notice_settings": {"announcement_category": 99}}
    response = api(person).patch(f"/api/v1/channels/{forum.pk}/", body, format="json")
    assert response.status_code == 403
    forum.refresh_from_db()
    assert forum.notice_settings == SET
