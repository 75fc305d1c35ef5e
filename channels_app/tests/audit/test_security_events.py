"""Refusals seen from outside (through the test client, as an attacker sends them) leave
security events in the audit trail, and a flood of them writes a bounded number of rows."""

import time
from datetime import timedelta

import pytest
from django.test import Client

from channels_app.audit.services import record_security_event, verify_chain
from channels_app.models import AuditEvent
from channels_app.tests.support.factories import ChannelFactory, SunsetPlanFactory

PASSWORD = "correct horse battery staple"  # the persona fixtures' password


def _events(kind: str):
    return list(AuditEvent.objects.filter(action=f"security.{kind}").order_by("id"))


def _at_start_of_window(settings, seconds: int) -> None:
    """Windows are wall-clock slots; start the flood just after one begins so it fits in it."""
    settings.DUSK_SECURITY_EVENT_WINDOW = seconds
    time.sleep(seconds - time.time() % seconds + 0.05)


def _sign_in(client: Client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_a_write_refused_by_role_is_a_security_event(client, viewer):
    plan = SunsetPlanFactory()
    client.force_login(viewer)
    response = client.post(f"/plans/{plan.pk}/submit/")
    assert response.status_code == 403
    (event,) = _events("forbidden_write")
    assert event.actor == viewer
    assert event.after | {} == {
        "kind": "forbidden_write",
        "source": "127.0.0.1",
        "status": 403,
        "method": "POST",
        "path": f"/plans/{plan.pk}/submit/",
    }
    assert verify_chain() == []


def test_a_refused_read_is_not_a_security_event(client, viewer):
    client.force_login(viewer)
    assert client.get("/audit/").status_code == 403
    assert _events("forbidden_write") == []


def test_a_post_without_csrf_token_is_a_security_event(viewer):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(viewer)
    assert browser.post("/settings/profile/", {"time_zone": "UTC"}).status_code == 403
    assert len(_events("forbidden_write")) == 1


def test_a_failed_sign_in_is_a_security_event(manager):
    response = _sign_in(Client(REMOTE_ADDR="198.51.100.7"), "maya", "wrong")
    assert response.status_code == 200
    (event,) = _events("login_failed")
    assert event.actor is None and event.actor_label == "anonymous"
    assert event.after["source"] == "198.51.100.7"
    assert event.after["username"] == "maya"
    assert "password" not in str(event.after) and "wrong" not in str(event.after)


def test_a_lockout_is_a_security_event(manager, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(seconds=30)
    attacker = Client(REMOTE_ADDR="198.51.100.8")
    for _ in range(3):
        _sign_in(attacker, "maya", "wrong")
    assert _sign_in(attacker, "maya", PASSWORD).status_code == 429
    # One event per locked attempt (the third failure, then the right password), within the quota.
    events = _events("lockout")
    assert len(events) == 2
    assert events[0].after == {
        "kind": "lockout",
        "source": "198.51.100.8",
        "username": "maya",
        "status": 429,
        "method": "POST",
        "path": "/accounts/login/",
    }
    assert len(_events("login_failed")) == 2


def test_a_refused_webhook_is_a_security_event(client, retired_x):
    response = client.post(
        f"/hooks/{retired_x.pk}/x",
        b'{"tweet_create_events": []}',
        content_type="application/json",
        headers={"x-twitter-webhooks-signature": "sha256=forged"},
    )
    assert response.status_code == 403
    (event,) = _events("webhook_refused")
    assert event.after["path"] == f"/hooks/{retired_x.pk}/x" and event.after["status"] == 403


def test_a_rejected_api_token_is_a_security_event(client, db):
    response = client.get("/api/v1/plans/", headers={"Authorization": "Bearer dusk_nothing_here"})
    assert response.status_code == 401
    (event,) = _events("token_rejected")
    assert event.after["method"] == "GET" and event.after["source"] == "127.0.0.1"


def test_an_anonymous_api_request_without_a_token_is_not_a_token_event(client, db):
    assert client.get("/api/v1/plans/").status_code in (401, 403)
    assert _events("token_rejected") == []


def test_a_flood_of_failed_sign_ins_writes_a_bounded_number_of_rows_and_counts_the_rest(manager, settings):
    settings.AXES_FAILURE_LIMIT = 10_000
    settings.DUSK_SECURITY_EVENTS_PER_SOURCE = 5
    settings.DUSK_SECURITY_EVENTS_PER_KIND = 8
    _at_start_of_window(settings, 20)
    before = AuditEvent.objects.count()
    one_source = Client(REMOTE_ADDR="203.0.113.9")
    for attempt in range(60):
        _sign_in(one_source, "maya", f"guess-{attempt}")
    events = _events("login_failed")
    assert len(events) == 5
    assert events[-1].after["further_counted_only"] is True
    # Other sources still get through, up to the quota of the kind...
    for host in range(10):
        _sign_in(Client(REMOTE_ADDR=f"192.0.2.{host}"), "maya", "guess")
    assert len(_events("login_failed")) == 8
    assert AuditEvent.objects.count() - before == 8
    assert verify_chain() == []


def test_the_events_not_recorded_are_counted_in_the_next_one(manager, settings):
    settings.AXES_FAILURE_LIMIT = 10_000
    settings.DUSK_SECURITY_EVENTS_PER_SOURCE = 2
    _at_start_of_window(settings, 3)
    attacker = Client(REMOTE_ADDR="203.0.113.10")
    for _ in range(12):
        _sign_in(attacker, "maya", "guess")
    assert len(_events("login_failed")) == 2
    # The next window: the first event recorded says how many were only counted.
    time.sleep(3 - time.time() % 3 + 0.05)
    _sign_in(attacker, "maya", "guess")
    events = _events("login_failed")
    assert len(events) == 3
    assert events[-1].after["not_recorded_since_last"] == 10


def test_an_unknown_kind_is_a_programming_error(db):
    with pytest.raises(ValueError):
        record_security_event(kind="nonsense", source=None, detail={})


def test_a_channel_page_a_viewer_may_read_writes_nothing(client, viewer):
    client.force_login(viewer)
    channel = ChannelFactory()
    assert client.get(f"/channels/{channel.pk}/").status_code == 200
    assert not AuditEvent.objects.filter(action__startswith="security.").exists()
