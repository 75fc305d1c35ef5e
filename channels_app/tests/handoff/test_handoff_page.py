"""A plan's hand-off page: managers set destinations, bad ones are refused with the reason, failed
hand-offs are listed with a button to send them again."""

import pytest
from django.urls import reverse

from channels_app.models import HandoffDelivery, HandoffDestination, HandoffRequest

pytestmark = pytest.mark.django_db


def test_a_manager_adds_a_destination_and_a_bad_one_is_refused(client, manager, moved):
    _conversation, plan = moved
    client.force_login(manager)
    url = reverse("plan_handoffs", args=[plan.pk])
    bad = client.post(
        url, {"position": 1, "kind": "webhook", "url": "http://169.254.169.254/", "credential_env": "HOME"}
    )
    assert bad.status_code == 422
    html = bad.content.decode()
    assert "DUSK_CHANNEL_" in html and "169.254.169.254" in html
    assert not HandoffDestination.objects.exists()
    good = client.post(
        url,
        {"position": 1, "kind": "zendesk", "url": "https://brand.zendesk.com", "credential_env": "DUSK_CHANNEL_ZD"},
    )
    assert good.status_code == 302
    page = client.get(url).content.decode()
    assert "https://brand.zendesk.com" in page and "Web form" in page


def test_failed_hand_offs_are_listed_with_a_button_to_send_again(client, manager, moved):
    conversation, plan = moved
    destination = HandoffDestination.objects.create(
        plan=plan, position=1, kind="webhook", url="https://hooks.example.com/dusk", credential_env="DUSK_CHANNEL_H"
    )
    request = HandoffRequest.objects.create(
        conversation=conversation,
        plan=plan,
        name="C",
        email="c@example.com",
        message="m",
        created_at=conversation.opened_at,
    )
    delivery = HandoffDelivery.objects.create(
        request=request, destination=destination, state="failed", attempts=8, last_error="webhook: HTTP 410"
    )
    client.force_login(manager)
    page = client.get(reverse("plan_handoffs", args=[plan.pk])).content.decode()
    assert conversation.reference in page and "webhook: HTTP 410" in page
    requeue = reverse("handoff_delivery_requeue", args=[plan.pk, delivery.pk])
    assert requeue in page
    assert client.post(requeue).status_code == 302
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("pending", 0)
