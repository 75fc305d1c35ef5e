"""A forum channel's notice settings in the portal: the announcement category and the categories
made read-only at the hard close, saved through update_channel (audited); bad input is a form
error that changes nothing; other platforms have no such settings."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from channels_app.directory.services import MAX_CATEGORY_ID, update_channel
from channels_app.models import AuditEvent, Channel
from channels_app.tests.support.factories import ChannelFactory

pytestmark = pytest.mark.django_db

SET = {"announcement_category": 12, "read_only_categories": [12, 13]}


@pytest.fixture
def forum(db):
    return ChannelFactory(kind="discourse", name="Brand forum", notice_settings=SET)


def _post(client, channel, announcement="", read_only=""):
    url = reverse("channel_notice_settings", args=[channel.pk])
    return client.post(url, {"announcement_category": announcement, "read_only_categories": read_only})


def test_the_form_shows_the_settings_and_saves_them_through_the_audited_service(client, manager, forum):
    client.force_login(manager)
    page = client.get(reverse("channel_notice_settings", args=[forum.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Announcement category id" in html and "Categories made read-only at the hard close" in html
    assert 'value="12"' in html and 'value="12, 13"' in html

    response = _post(client, forum, " 40 ", "41, 42 41,,43\n44")
    assert response.status_code == 302
    assert response["Location"] == reverse("channel_detail", args=[forum.pk])
    forum.refresh_from_db()
    assert forum.notice_settings == {"announcement_category": 40, "read_only_categories": [41, 42, 43, 44]}
    event = AuditEvent.objects.get(action="channel.updated", object_id=str(forum.pk))
    assert event.before["notice_settings"] == SET
    assert event.after["notice_settings"] == forum.notice_settings

    # The channel page says them, with the way to change them for those who may.
    detail = client.get(reverse("channel_detail", args=[forum.pk])).content.decode()
    assert "41, 42, 43, 44" in detail and reverse("channel_notice_settings", args=[forum.pk]) in detail


def test_empty_fields_clear_the_settings(client, manager, forum):
    client.force_login(manager)
    assert _post(client, forum).status_code == 302
    forum.refresh_from_db()
    assert forum.notice_settings == {}


@pytest.mark.parametrize(
    ("announcement", "read_only", "message"),
    [
        ("twelve", "", "“twelve” is not a category id"),
        ("-3", "", "“-3” is not a category id"),
        ("0", "", "“0” is not a category id"),
        ("1.5", "", "“1.5” is not a category id"),
        ("١٢", "", "is not a category id"),  # Arabic-Indic digits: int() would take them
        (str(MAX_CATEGORY_ID + 1), "", "is not a category id"),
        ("9" * 21, "", "at most 20 characters"),
        ("", "13, x, 14", "“x” is not a category id"),
        ("", "13 -14", "“-14” is not a category id"),
        ("", "13;14", "“13;14” is not a category id"),
        ("", " ".join(str(i) for i in range(1, 102)), "Name at most 100 categories"),
        ("", "1 " * 600, "at most 1000 characters"),
    ],
)
def test_bad_input_is_a_form_error_that_changes_nothing(client, manager, forum, announcement, read_only, message):
    client.force_login(manager)
    response = _post(client, forum, announcement, read_only)
    assert response.status_code == 422
    assert message in response.content.decode()
    forum.refresh_from_db()
    assert forum.notice_settings == SET
    assert not AuditEvent.objects.filter(action="channel.updated").exists()


def test_a_nul_byte_is_refused_and_changes_nothing(client, manager, forum):
    client.force_login(manager)
    response = _post(client, forum, "12\x00", "13")
    assert response.status_code == 400
    forum.refresh_from_db()
    assert forum.notice_settings == SET


def test_other_platforms_have_no_notice_settings(client, manager):
    x = ChannelFactory(kind="x", name="Brand on X")
    client.force_login(manager)
    assert client.get(reverse("channel_notice_settings", args=[x.pk])).status_code == 404
    assert _post(client, x, "12", "13").status_code == 404
    x.refresh_from_db()
    assert x.notice_settings == {}
    detail = client.get(reverse("channel_detail", args=[x.pk])).content.decode()
    assert "Announcement category id" not in detail
    assert reverse("channel_notice_settings", args=[x.pk]) not in detail
    # The service refuses them too, whoever calls it.
    with pytest.raises(ValidationError, match="Only a community forum"):
        update_channel(actor=manager, channel=x, notice_settings={"announcement_category": 12})
    # A forum that becomes another kind cannot keep a forum's settings.
    forum = ChannelFactory(kind="discourse", name="Forum", notice_settings=SET)
    with pytest.raises(ValidationError, match="Only a community forum"):
        update_channel(actor=manager, channel=forum, kind="x")
    assert Channel.objects.get(pk=forum.pk).kind == "discourse"


def test_only_those_who_manage_channels_may_change_them(client, viewer, approver, forum):
    for person in (viewer, approver):
        client.force_login(person)
        assert client.get(reverse("channel_notice_settings", args=[forum.pk])).status_code == 403
        assert _post(client, forum, "40", "41").status_code == 403
        detail = client.get(reverse("channel_detail", args=[forum.pk])).content.decode()
        assert "12, 13" in detail
        assert reverse("channel_notice_settings", args=[forum.pk]) not in detail
    forum.refresh_from_db()
    assert forum.notice_settings == SET
