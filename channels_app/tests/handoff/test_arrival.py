"""Arrival back: a destination reports "reference X arrived / solved", signed like Dusk's own
webhooks. Unsigned, wrongly signed or stale reports are refused and store nothing."""

import json
import time

import pytest
from django.urls import reverse

from channels_app.handoff.adapters.webhook import signature
from channels_app.models import HandoffArrival, HandoffDestination
from channels_app.tests.support.factories import ChannelFactory, ConversationFactory

pytestmark = pytest.mark.django_db

SECRET_ENV = "DUSK_CHANNEL_ZENDESK_ARRIVALS"
SECRET = "arrival-secret"


@pytest.fixture
def destination(moved, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    _conversation, plan = moved
    return HandoffDestination.objects.create(
        plan=plan,
        position=1,
        kind="zendesk",
        url="https://brand.zendesk.com",
        credential_env="DUSK_CHANNEL_ZD",
        arrival_secret_env=SECRET_ENV,
    )


def report(client, destination, body, *, secret=SECRET, stamp=None, sign=True, tamper=None):
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    stamp = str(int(time.time())) if stamp is None else str(stamp)
    headers = {}
    if sign:
        headers = {"HTTP_X_DUSK_TIMESTAMP": stamp, "HTTP_X_DUSK_SIGNATURE": signature(secret, stamp, raw)}
    return client.post(
        reverse("handoff_arrival", args=[destination.pk]),
        tamper if tamper is not None else raw,
        content_type="application/json",
        **headers,
    )


def test_arrived_then_solved_are_recorded_once_each(client, moved, destination):
    conversation, _plan = moved
    body = {"reference": conversation.reference, "status": "arrived"}
    first = report(client, destination, body)
    assert (first.status_code, first.json()["recorded"]) == (200, True)
    again = report(client, destination, body)
    assert (again.status_code, again.json()["recorded"]) == (200, False)
    assert report(client, destination, {**body, "status": "solved"}).status_code == 200
    assert sorted(HandoffArrival.objects.values_list("status", flat=True)) == ["arrived", "solved"]


@pytest.mark.parametrize(
    ("how", "status"),
    [
        ("unsigned", 401),
        ("wrong secret", 403),
        ("stale", 403),
        ("from the future", 403),
        ("tampered body", 403),
        ("not json", 400),
        ("unknown status", 400),
        ("unknown reference", 404),
        ("another plan's reference", 404),
    ],
)
def test_a_bad_report_is_refused_and_stores_nothing(client, moved, destination, how, status):
    conversation, _plan = moved
    body = {"reference": conversation.reference, "status": "arrived"}
    now = int(time.time())
    if how == "unsigned":
        response = report(client, destination, body, sign=False)
    elif how == "wrong secret":
        response = report(client, destination, body, secret="guess")
    elif how == "stale":
        response = report(client, destination, body, stamp=now - 301)
    elif how == "from the future":
        response = report(client, destination, body, stamp=now + 400)
    elif how == "tampered body":
        response = report(client, destination, body, tamper=json.dumps({**body, "status": "solved"}).encode())
    elif how == "not json":
        response = report(client, destination, b"reference=DSK-1")
    elif how == "unknown status":
        response = report(client, destination, {**body, "status": "teleported"})
    elif how == "unknown reference":
        response = report(client, destination, {**body, "reference": "DSK-NOPE0000"})
    else:
        stranger = ConversationFactory(channel=ChannelFactory())
        response = report(client, destination, {**body, "reference": stranger.reference})
    assert response.status_code == status
    assert response.json()["error"]
    assert not HandoffArrival.objects.exists()


def test_a_destination_without_an_arrival_secret_takes_no_report(client, moved, destination):
    conversation, _plan = moved
    HandoffDestination.objects.filter(pk=destination.pk).update(arrival_secret_env="")
    response = report(client, destination, {"reference": conversation.reference, "status": "arrived"})
    assert response.status_code == 403
    assert not HandoffArrival.objects.exists()
