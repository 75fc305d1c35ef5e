"""The admin's channel form checks the notice settings as the portal and the API do."""

import json

import pytest
from django.contrib import admin
from django.forms.models import model_to_dict
from django.test import RequestFactory

from channels_app.admin.modeladmins import ChannelAdmin
from channels_app.models import Channel
from channels_app.tests.support.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def _form(channel, settings_: object):
    form_class = ChannelAdmin(Channel, admin.site).get_form(RequestFactory().get("/"), channel)
    data = {k: v for k, v in model_to_dict(channel).items() if v is not None}
    data["notice_settings"] = json.dumps(settings_)
    for name in ("poll_boundary_ids",):
        data[name] = json.dumps(data.get(name) or [])
    return form_class(data=data, instance=channel)


def test_a_forums_settings_are_normalised_and_bad_ones_refused():
    forum = ChannelFactory(kind="discourse", name="Forum")
    form = _form(forum, {"announcement_category": 12, "read_only_categories": [13, 13, 14]})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["notice_settings"] == {"announcement_category": 12, "read_only_categories": [13, 14]}
    for bad in ({"announcement_category": "12"}, {"read_only_categories": [-1]}, {"pinned": 1}, [12]):
        form = _form(forum, bad)
        assert not form.is_valid() and "notice_settings" in form.errors, bad


def test_other_platforms_take_none():
    x = ChannelFactory(kind="x", name="Brand on X")
    assert not _form(x, {"announcement_category": 12}).is_valid()
    assert _form(x, {}).is_valid()
