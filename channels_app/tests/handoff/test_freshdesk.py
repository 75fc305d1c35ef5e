"""Handing contact requests off to Freshdesk: a real HTTP server on 127.0.0.1 that checks every
request against the Tickets API v2 (Basic auth with the API key, the ticket's fields, the search
query's quoting), one ticket per request through a 500 and a lost answer, and a wrong key listed
as failed with its reason and a button to send it again."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app.handoff.services.delivery import send_due_handoffs, set_handoff_destination
from channels_app.handoff.services.landing import request_handoff
from channels_app.models import HandoffDelivery
from channels_app.tests.support.fakeplatforms import FakeFreshdesk, serve

pytestmark = pytest.mark.django_db

ENV = "DUSK_CHANNEL_FRESHDESK_HANDOFF"


@pytest.fixture
def freshdesk(monkeypatch, settings):
    settings.DUSK_HANDOFF_TIMEOUT = 2.0
    fake = FakeFreshdesk()
    monkeypatch.setenv(ENV, fake.credential)
    yield from serve(fake)


def handed_off(moved, manager, url, *, message="Still waiting <b>please</b>."):
    conversation, plan = moved
    set_handoff_destination(actor=manager, plan=plan, position=1, kind="freshdesk", url=url, credential_env=ENV)
    request = request_handoff(
        conversation=conversation, plan=plan, name="Camille", email="camille@example.com", message=message
    )
    return request, HandoffDelivery.objects.get(request=request)


def test_a_request_becomes_one_freshdesk_ticket_after_a_500(moved, manager, freshdesk):
    request, delivery = handed_off(moved, manager, freshdesk.base_url)
    freshdesk.fail_next(500, body={"description": "Internal error"})
    now = timezone.now()
    assert send_due_handoffs(now=now) == 0
    delivery.refresh_from_db()
    assert (delivery.state, delivery.last_error) == ("pending", "Freshdesk create ticket: HTTP 500")
    assert send_due_handoffs(now=now + timedelta(seconds=11)) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.remote_id) == ("sent", "1001")
    [ticket] = freshdesk.tickets
    reference = request.conversation.reference
    assert ticket["tags"] == ["dusk_handoff", reference]
    assert (ticket["name"], ticket["email"]) == ("Camille", "camille@example.com")
    # The description is HTML: the customer's text is escaped, its lines kept.
    assert "Still waiting &lt;b&gt;please&lt;/b&gt;." in ticket["description"]
    assert "<br>" in ticket["description"] and "Customer: My order 4411 never arrived" in ticket["description"]


def test_a_lost_answer_is_found_by_its_tag_and_not_sent_twice(moved, manager, freshdesk, settings):
    settings.DUSK_HANDOFF_TIMEOUT = 0.5
    request, delivery = handed_off(moved, manager, freshdesk.base_url)
    freshdesk.fail_next(201, delay=1.5, after_effect=True)  # created, but the answer comes too late
    now = timezone.now()
    send_due_handoffs(now=now)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.in_doubt) == ("pending", True)
    assert send_due_handoffs(now=now + timedelta(minutes=1)) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.remote_id) == ("sent", "1001")
    assert len(freshdesk.tickets) == 1
    assert [(r.method, r.param("query")) for r in freshdesk.received] == [
        ("POST", None),
        ("GET", f"\"tag:'{request.conversation.reference}'\""),
    ]


def test_a_resend_after_a_lost_answer_that_never_arrived_creates_the_ticket(moved, manager, freshdesk, settings):
    settings.DUSK_HANDOFF_TIMEOUT = 0.5
    _request, delivery = handed_off(moved, manager, freshdesk.base_url)
    freshdesk.fail_next(503, delay=1.5)  # nothing created and no answer in time
    now = timezone.now()
    send_due_handoffs(now=now)
    assert send_due_handoffs(now=now + timedelta(minutes=1)) == 1
    assert len(freshdesk.tickets) == 1
    assert [r.method for r in freshdesk.received] == ["POST", "GET", "POST"]


def test_a_wrong_api_key_fails_for_good_with_freshdesks_reason(client, moved, manager, freshdesk, monkeypatch):
    _request, delivery = handed_off(moved, manager, freshdesk.base_url)
    monkeypatch.setenv(ENV, "not-the-key")
    send_due_handoffs()
    delivery.refresh_from_db()
    assert delivery.state == "failed"
    assert delivery.last_error == (
        "Freshdesk create ticket: HTTP 401 (You have to be logged in to perform this action.)"
    )
    assert freshdesk.tickets == []
    _conversation, plan = moved
    client.force_login(manager)
    page = client.get(reverse("plan_handoffs", args=[plan.pk])).content.decode()
    assert "You have to be logged in to perform this action." in page
    assert reverse("handoff_delivery_requeue", args=[plan.pk, delivery.pk]) in page and "Send again" in page
    # The key is fixed; a person sends it again.
    monkeypatch.setenv(ENV, freshdesk.credential)
    assert client.post(reverse("handoff_delivery_requeue", args=[plan.pk, delivery.pk])).status_code == 302
    assert send_due_handoffs() == 1
    assert len(freshdesk.tickets) == 1


def test_a_429_waits_for_retry_after(moved, manager, freshdesk):
    _request, delivery = handed_off(moved, manager, freshdesk.base_url)
    freshdesk.rate_limit_next("90")
    now = timezone.now()
    send_due_handoffs(now=now)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.next_attempt_at) == ("pending", now + timedelta(seconds=90))
