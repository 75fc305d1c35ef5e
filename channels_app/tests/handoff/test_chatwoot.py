"""Handing contact requests off to Chatwoot: a real HTTP server on 127.0.0.1 playing the
Application API (api_access_token, contacts, contact inboxes, conversations, messages) that checks
every request and keeps state; one conversation per request through a 500 between two steps and a
lost answer; a wrong token listed as failed with a button to send it again."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from channels_app.handoff.services.delivery import send_due_handoffs, set_handoff_destination
from channels_app.handoff.services.landing import request_handoff
from channels_app.models import HandoffDelivery
from channels_app.tests.support.fakeplatforms import FakeChatwoot, serve

pytestmark = pytest.mark.django_db

ENV = "DUSK_CHANNEL_CHATWOOT_HANDOFF"


@pytest.fixture
def chatwoot(monkeypatch, settings):
    settings.DUSK_HANDOFF_TIMEOUT = 2.0
    fake = FakeChatwoot()
    monkeypatch.setenv(ENV, fake.credential)
    yield from serve(fake)


def handed_off(moved, manager, url):
    conversation, plan = moved
    set_handoff_destination(actor=manager, plan=plan, position=1, kind="chatwoot", url=url, credential_env=ENV)
    request = request_handoff(
        conversation=conversation, plan=plan, name="Camille", email="camille@example.com", message="Still waiting."
    )
    return request, HandoffDelivery.objects.get(request=request)


def calls(fake):
    return [(r.method, r.path.removeprefix(fake.api)) for r in fake.received]


def test_a_request_becomes_one_conversation_with_the_transcript_as_a_note(moved, manager, chatwoot):
    request, delivery = handed_off(moved, manager, chatwoot.url)
    assert send_due_handoffs() == 1
    delivery.refresh_from_db()
    [conversation] = chatwoot.conversations.values()
    assert (delivery.state, delivery.remote_id) == ("sent", str(conversation["id"]))
    assert conversation["custom_attributes"] == {
        "dusk_reference": request.conversation.reference,
        "dusk_handoff": f"dusk-handoff-{delivery.pk}",
    }
    [contact] = chatwoot.contacts.values()
    assert (contact["name"], contact["email"]) == ("Camille", "camille@example.com")
    [note] = chatwoot.messages[conversation["id"]]
    assert note["private"] is True and note["message_type"] == "outgoing"
    assert "Still waiting." in note["content"] and "Customer: My order 4411 never arrived" in note["content"]
    assert calls(chatwoot) == [
        ("GET", "/contacts/search"),
        ("POST", "/contacts"),
        ("POST", "/conversations"),
        ("POST", f"/conversations/{conversation['id']}/messages"),
    ]


def test_a_500_on_the_note_finishes_the_same_conversation(moved, manager, chatwoot):
    _request, delivery = handed_off(moved, manager, chatwoot.url)
    chatwoot.fail_next(500, path=f"{chatwoot.api}/conversations/90/messages")
    now = timezone.now()
    assert send_due_handoffs(now=now) == 0
    delivery.refresh_from_db()
    assert (delivery.state, delivery.last_error) == ("pending", "Chatwoot post message: HTTP 500")
    assert send_due_handoffs(now=now + timedelta(seconds=11)) == 1
    assert len(chatwoot.conversations) == 1 and len(chatwoot.contacts) == 1
    assert len(chatwoot.messages[90]) == 1
    assert calls(chatwoot)[4:] == [
        ("GET", "/contacts/search"),
        ("GET", "/contacts/500/conversations"),
        ("GET", "/conversations/90/messages"),
        ("POST", "/conversations/90/messages"),
    ]


def test_a_lost_answer_is_looked_up_and_not_sent_twice(moved, manager, chatwoot, settings):
    settings.DUSK_HANDOFF_TIMEOUT = 0.5
    _request, delivery = handed_off(moved, manager, chatwoot.url)
    # The note is written, but its answer never arrives in time.
    chatwoot.fail_next(200, delay=1.5, after_effect=True, path=f"{chatwoot.api}/conversations/90/messages")
    now = timezone.now()
    send_due_handoffs(now=now)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.in_doubt) == ("pending", True)
    assert send_due_handoffs(now=now + timedelta(minutes=1)) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.remote_id) == ("sent", "90")
    assert len(chatwoot.conversations) == 1 and len(chatwoot.messages[90]) == 1
    # The look-up found it: nothing was created again.
    assert [c for c in calls(chatwoot)[4:] if c[0] == "POST"] == []


def test_a_known_customer_gets_a_new_conversation_in_the_inbox(moved, manager, chatwoot):
    chatwoot.contacts[500] = {"id": 500, "name": "Camille", "email": "camille@example.com"}
    _request, delivery = handed_off(moved, manager, chatwoot.url)
    assert send_due_handoffs() == 1
    assert calls(chatwoot) == [
        ("GET", "/contacts/search"),
        ("GET", "/contacts/500/conversations"),
        ("POST", "/contacts/500/contact_inboxes"),
        ("POST", "/conversations"),
        ("POST", "/conversations/90/messages"),
    ]


def test_a_wrong_token_fails_for_good_and_is_listed_to_send_again(client, moved, manager, chatwoot, monkeypatch):
    _request, delivery = handed_off(moved, manager, chatwoot.url)
    monkeypatch.setenv(ENV, "not-the-token")
    send_due_handoffs()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.last_error) == (
        "failed",
        "Chatwoot search contact: HTTP 401 (Invalid Access Token)",
    )
    _conversation, plan = moved
    client.force_login(manager)
    page = client.get(reverse("plan_handoffs", args=[plan.pk])).content.decode()
    assert "Invalid Access Token" in page and "Send again" in page
    assert reverse("handoff_delivery_requeue", args=[plan.pk, delivery.pk]) in page


def test_a_chatwoot_url_must_name_the_account_and_the_inbox(moved, manager):
    _conversation, plan = moved
    with pytest.raises(ValidationError) as refused:
        set_handoff_destination(
            actor=manager, plan=plan, position=1, kind="chatwoot", url="https://chat.example.com", credential_env=ENV
        )
    assert "url" in refused.value.message_dict
    set_handoff_destination(
        actor=manager,
        plan=plan,
        position=1,
        kind="chatwoot",
        url="https://chat.example.com/app/accounts/3/inbox/7",
        credential_env=ENV,
    )


def test_a_contact_created_meanwhile_for_the_same_address_is_used(moved, manager, chatwoot):
    chatwoot.contacts[500] = {"id": 500, "name": "Camille", "email": "camille@example.com"}
    # The search ran before the other hand-off created the contact: it finds nothing.
    chatwoot.fail_next(200, body={"meta": {"count": 0}, "payload": []}, path=f"{chatwoot.api}/contacts/search")
    _request, delivery = handed_off(moved, manager, chatwoot.url)
    assert send_due_handoffs() == 1
    assert len(chatwoot.contacts) == 1 and len(chatwoot.conversations) == 1
    assert calls(chatwoot)[:3] == [
        ("GET", "/contacts/search"),
        ("POST", "/contacts"),
        ("GET", "/contacts/search"),
    ]
