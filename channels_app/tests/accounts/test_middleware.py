"""channels_app/accounts/middleware.py: each person's time zone, active for their request only."""

import zoneinfo
from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.utils import timezone

from channels_app.accounts.middleware import SESSION_TZ_KEY, UserTimeZoneMiddleware
from channels_app.tests.support.factories import UserProfileFactory

pytestmark = pytest.mark.django_db


class CountingView:
    """A view that remembers how often it ran and which zone it saw."""

    def __init__(self, error: Exception | None = None):
        self.calls = 0
        self.zones: list[str] = []
        self.error = error

    def __call__(self, request):
        self.calls += 1
        self.zones.append(timezone.get_current_timezone_name())
        if self.error:
            raise self.error
        return "response"


def _request(user):
    request = RequestFactory().get("/")
    request.user = user
    request.session = import_module(settings.SESSION_ENGINE).SessionStore()
    return request


def test_the_persons_zone_is_active_for_their_request_only(manager):
    UserProfileFactory(user=manager, time_zone="Asia/Jakarta")
    view = CountingView()
    request = _request(manager)
    assert UserTimeZoneMiddleware(view)(request) == "response"
    assert view.zones == ["Asia/Jakarta"]
    assert request.session[SESSION_TZ_KEY] == "Asia/Jakarta"  # the next page costs no query
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE


@pytest.mark.parametrize("stored", ["Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime"])
def test_an_unknown_stored_zone_falls_back_to_the_default_and_the_view_runs_once(manager, stored):
    UserProfileFactory(user=manager, time_zone=stored)
    view = CountingView()
    assert UserTimeZoneMiddleware(view)(_request(manager)) == "response"
    assert view.calls == 1
    assert view.zones == [settings.TIME_ZONE]


def test_a_view_that_fails_on_an_unknown_zone_is_not_run_a_second_time(manager):
    # A view may itself meet an unknown zone (a phase's stored zone, say); its error is its
    # own and must reach the error handling once, not re-run the view (a second write).
    UserProfileFactory(user=manager, time_zone="Europe/Paris")
    view = CountingView(error=zoneinfo.ZoneInfoNotFoundError("No time zone found with key Mars/Olympus_Mons"))
    with pytest.raises(zoneinfo.ZoneInfoNotFoundError):
        UserTimeZoneMiddleware(view)(_request(manager))
    assert view.calls == 1
    assert view.zones == ["Europe/Paris"]
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE


def test_nobody_signed_in_gets_the_default_zone():
    view = CountingView()
    UserTimeZoneMiddleware(view)(_request(AnonymousUser()))
    assert view.zones == [settings.TIME_ZONE]


def test_a_page_renders_for_a_person_whose_stored_zone_is_unknown(client, manager):
    UserProfileFactory(user=manager, time_zone="Mars/Olympus_Mons")
    client.force_login(manager)
    assert client.get("/").status_code == 200
