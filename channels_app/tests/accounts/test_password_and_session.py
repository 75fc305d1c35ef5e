"""A local person changes their password from their settings; sessions last
DUSK_SESSION_HOURS after the last request (sliding)."""

from datetime import timedelta

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from channels_app.accounts.services import sync_sso_person
from channels_app.models import AuditEvent

PASSWORD = "correct horse battery staple"  # the persona fixtures' password
NEW = "violet tangerine quarry 42"


def _signed_in(username: str, password: str = PASSWORD) -> Client:
    client = Client()
    assert client.post("/accounts/login/", {"username": username, "password": password}).status_code == 302
    return client


def test_a_viewer_changes_their_password_from_their_settings(viewer):
    client = _signed_in(viewer.username)
    assert 'href="/settings/password/"' in client.get("/settings/profile/").content.decode()
    page = client.get("/settings/password/")
    assert page.status_code == 200 and "Change your password" in page.content.decode()
    done = client.post("/settings/password/", {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW})
    assert done.status_code in (302, 303) and done["Location"] == "/settings/profile/"
    assert client.get("/").status_code == 200  # still signed in on this session
    assert AuditEvent.objects.filter(action="user.password_changed", actor=viewer).count() == 1
    assert Client().post("/accounts/login/", {"username": viewer.username, "password": PASSWORD}).status_code == 200
    _signed_in(viewer.username, NEW)


def test_a_wrong_old_password_or_a_weak_new_one_is_a_form_error_and_changes_nothing(viewer):
    client = _signed_in(viewer.username)
    wrong = client.post("/settings/password/", {"old_password": "nope", "new_password1": NEW, "new_password2": NEW})
    weak = client.post(
        "/settings/password/", {"old_password": PASSWORD, "new_password1": "1234", "new_password2": "1234"}
    )
    assert wrong.status_code == 422 and weak.status_code == 422
    viewer.refresh_from_db()
    assert viewer.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action="user.password_changed").exists()


def test_people_who_sign_in_with_sso_have_no_password_to_change(db):
    person = sync_sso_person(subject="s-1", username="sso-person", email="", roles={"viewer"})
    client = Client()
    client.force_login(person)
    assert client.get("/settings/password/").status_code == 403
    assert 'href="/settings/password/"' not in client.get("/settings/profile/").content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get("/settings/password/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def _stored_expiry(client):
    return Session.objects.get(session_key=client.cookies["sessionid"].value).expire_date


def test_sessions_last_eight_hours_after_the_last_request(viewer, settings):
    assert django_settings.DUSK_SESSION_HOURS == 8.0
    assert django_settings.SESSION_COOKIE_AGE == 8 * 3600
    client = _signed_in(viewer.username)
    client.get("/")
    renewed = _stored_expiry(client)
    assert timedelta(hours=7, minutes=59) < renewed - timezone.now() <= timedelta(hours=8)
    # A request within DUSK_SESSION_RENEW_SECONDS of the last renewal writes nothing...
    client.get("/")
    assert _stored_expiry(client) == renewed
    # ...one after it pushes the end of the session forward (the cookie too).
    settings.DUSK_SESSION_RENEW_SECONDS = 0
    response = client.get("/")
    assert _stored_expiry(client) > renewed
    assert response.cookies["sessionid"]["max-age"] == 8 * 3600


def test_an_expired_session_is_signed_out(viewer, settings):
    client = _signed_in(viewer.username)
    session = client.session
    session.set_expiry(-1)
    session.save()
    assert client.get("/").status_code == 302
    assert get_user_model().objects.filter(pk=viewer.pk).exists()
