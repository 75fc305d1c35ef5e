"""The contact form on the landing page: stored with the transcript when valid, nothing stored and
a clear error otherwise."""

import pytest
from django.test import Client
from django.urls import reverse

from channels_app.models import HandoffRequest
from channels_app.tests.support.helpers import BROWSER

pytestmark = pytest.mark.django_db

GOOD = {"name": "Camille", "email": "camille@example.com", "message": "My parcel is still missing.", "website": ""}


def post(client, reference, **changes):
    data = {**GOOD, **changes}
    return client.post(
        reverse("landing_contact", args=[reference]), data, HTTP_USER_AGENT=BROWSER, HTTP_ACCEPT_LANGUAGE="en"
    )


def test_a_valid_message_is_stored_with_the_reference_and_the_transcript(client, moved):
    conversation, _plan = moved
    response = post(client, conversation.reference)
    assert response.status_code == 302
    assert response["Location"] == reverse("tracked_redirect", args=[conversation.reference]) + "?sent=1#contact"
    request = HandoffRequest.objects.get()
    assert (request.conversation, request.name, request.email) == (conversation, "Camille", "camille@example.com")
    assert request.message == "My parcel is still missing."
    assert "Customer: My order 4411 never arrived" in request.transcript
    assert "Support: Sorry Camille, looking into it" in request.transcript
    thanks = client.get(response["Location"], HTTP_USER_AGENT=BROWSER, HTTP_ACCEPT_LANGUAGE="en")
    assert f"we have your message and reference {conversation.reference}" in thanks.content.decode()


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"name": ""}, "This field is required."),
        ({"email": ""}, "This field is required."),
        ({"message": ""}, "This field is required."),
        ({"email": "camille-at-example"}, "Enter a valid email address."),
        ({"message": "x" * 1_000_000}, "Please keep your message under 5000 characters."),
        ({"name": "n" * 500}, "Ensure this value has at most 120 characters"),
        ({"website": "http://spam.example"}, "This message looks automated and was not sent."),
    ],
    ids=["no-name", "no-email", "no-message", "bad-email", "1MB-message", "long-name", "honeypot"],
)
def test_bad_input_gets_a_clear_error_and_stores_nothing(client, moved, changes, error):
    conversation, _plan = moved
    response = post(client, conversation.reference, **changes)
    assert response.status_code == 422
    assert error in response.content.decode()
    assert not HandoffRequest.objects.exists()


def test_the_form_needs_the_csrf_token(moved):
    conversation, _plan = moved
    client = Client(enforce_csrf_checks=True)
    response = post(client, conversation.reference)
    assert response.status_code == 403
    assert not HandoffRequest.objects.exists()


def test_an_unknown_reference_stores_nothing(client, moved):
    assert post(client, "DSK-NOPE0000").status_code == 404
    assert not HandoffRequest.objects.exists()


def test_messages_are_bounded_per_reference(client, moved, settings):
    conversation, _plan = moved
    settings.DUSK_HANDOFF_PER_REFERENCE_PER_HOUR = 2
    for n in range(2):
        assert post(client, conversation.reference, email=f"p{n}@example.com").status_code == 302
    response = post(client, conversation.reference, email="p9@example.com")
    assert response.status_code == 422
    assert "We already have your messages for this reference" in response.content.decode()
    assert HandoffRequest.objects.count() == 2


def test_messages_are_bounded_per_address(client, manager, approver, moved, settings):
    from channels_app.tests.support.factories import ConversationFactory

    conversation, _plan = moved
    settings.DUSK_HANDOFF_PER_ADDRESS_PER_HOUR = 1
    other = ConversationFactory(channel=conversation.channel)
    assert post(client, conversation.reference).status_code == 302
    response = post(client, other.reference, email="Camille@Example.com")
    assert response.status_code == 422
    assert "several messages from this address" in response.content.decode()
    assert HandoffRequest.objects.count() == 1
