"""The plan's contact requests page: where the team reads what customers wrote on the landing
page (the only place when the plan has no hand-off destination), for managers only."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from channels_app.models import HandoffDelivery, HandoffDestination, HandoffRequest
from channels_app.tests.support.factories import ChannelFactory, ConversationFactory
from channels_app.tests.support.helpers import approved_plan

pytestmark = pytest.mark.django_db


def _request(conversation, plan, *, minutes_ago=0, **fields):
    values = {"name": "Camille", "email": "camille@example.com", "message": "My parcel is still missing."}
    values.update(fields)
    return HandoffRequest.objects.create(
        conversation=conversation,
        plan=plan,
        transcript="Customer: My order 4411 never arrived\nSupport: Sorry Camille, looking into it",
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
        **values,
    )


def _page(client, plan, **params):
    return client.get(reverse("plan_contact_requests", args=[plan.pk]), params)


def test_a_manager_reads_each_request_with_its_reference_address_transcript_and_hand_off(client, manager, moved):
    conversation, plan = moved
    older = _request(conversation, plan, minutes_ago=30, name="Old", message="First try")
    newer = _request(conversation, plan, name="<b>Eve</b>", message="Line one\n<script>alert(1)</script>")
    destination = HandoffDestination.objects.create(
        plan=plan, position=1, kind="zendesk", url="https://brand.zendesk.com", credential_env="DUSK_CHANNEL_Z"
    )
    HandoffDelivery.objects.create(request=older, destination=destination, state="failed")
    client.force_login(manager)
    response = _page(client, plan)
    assert response.status_code == 200
    html = response.content.decode()
    # Newest first, each with the reference of the moved conversation and a reply address.
    assert html.index("Line one") < html.index("First try")
    assert html.count(f"<code>{conversation.reference}</code>") == 2
    assert 'href="mailto:camille@example.com"' in html
    assert "Customer: My order 4411 never arrived" in html
    # What a customer wrote is shown as text, never as markup.
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>Eve</b>" not in html and "&lt;b&gt;Eve&lt;/b&gt;" in html
    assert "Line one<br>" in html
    # Where each went: the one handed off says how that went; the other is only here.
    assert "Zendesk: Failed" in html
    assert "kept in Dusk only" in html
    assert newer.pk != older.pk


def test_only_this_plans_requests_are_listed(client, manager, approver, moved):
    conversation, plan = moved
    other_channel = ChannelFactory(kind="youtube", name="Brand on YouTube")
    other_plan = approved_plan(manager=manager, approver=approver, channels=[other_channel])
    _request(conversation, plan, message="Mine")
    _request(ConversationFactory(channel=other_channel), other_plan, message="Someone else's plan")
    client.force_login(manager)
    html = _page(client, plan).content.decode()
    assert "Mine" in html and "Someone else&#x27;s plan" not in html and "Someone else's plan" not in html


def _queries(client, plan) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert _page(client, plan).status_code == 200
    return len(queries)


def test_the_requests_come_25_a_page_in_a_fixed_number_of_queries(client, manager, moved):
    conversation, plan = moved
    destination = HandoffDestination.objects.create(
        plan=plan, position=1, kind="webhook", url="https://hooks.example.com", credential_env="DUSK_CHANNEL_H"
    )
    client.force_login(manager)
    HandoffDelivery.objects.create(request=_request(conversation, plan, minutes_ago=99), destination=destination)
    _queries(client, plan)  # the session's first page also stores the viewer's time zone
    few = _queries(client, plan)
    for i in range(29):
        request = _request(conversation, plan, minutes_ago=i, message=f"message number {i:02d}")
        HandoffDelivery.objects.create(request=request, destination=destination)
    assert _queries(client, plan) == few  # the same whatever the number of requests and hand-offs
    first = _page(client, plan).content.decode()
    assert first.count("message number") == 25 and "message number 00" in first and "message number 25" not in first
    assert "Page 1 of 2 (30 in all)" in first
    second = _page(client, plan, page=2).content.decode()
    assert second.count("message number") == 4 and "message number 28" in second
    assert "My parcel is still missing." in second  # the oldest, last
    # A page past the end, or not a number, shows a real page rather than an error.
    assert _page(client, plan, page=99).status_code == 200
    assert "message number 00" in _page(client, plan, page="x").content.decode()


def test_without_requests_the_page_says_so(client, manager, moved):
    _conversation, plan = moved
    client.force_login(manager)
    assert "No customer has written on this plan's landing page yet." in _page(client, plan).content.decode()


@pytest.mark.parametrize("role", ["approver", "hr_coordinator", "viewer"])
def test_other_roles_may_not_read_them_and_see_no_link(client, request, moved, role):
    conversation, plan = moved
    _request(conversation, plan, message="Private words")
    client.force_login(request.getfixturevalue(role))
    response = _page(client, plan)
    assert response.status_code == 403 and "Private words" not in response.content.decode()
    handoffs = client.get(reverse("plan_handoffs", args=[plan.pk])).content.decode()
    assert "1 contact request written on the landing page." in handoffs
    assert reverse("plan_contact_requests", args=[plan.pk]) not in handoffs


def test_the_hand_offs_page_counts_them_and_links_here_for_a_manager(client, manager, moved):
    conversation, plan = moved
    _request(conversation, plan)
    _request(conversation, plan)
    client.force_login(manager)
    html = client.get(reverse("plan_handoffs", args=[plan.pk])).content.decode()
    assert "2 contact requests written on the landing page." in html
    assert reverse("plan_contact_requests", args=[plan.pk]) in html
    assert "Read them here and answer by email." in html


def test_an_unknown_plan_is_404(client, manager):
    client.force_login(manager)
    assert client.get(reverse("plan_contact_requests", args=[999999])).status_code == 404


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_pages_through_them_for_a_manager_and_refuses_other_roles(
    manager, approver, hr_coordinator, viewer, moved
):
    conversation, plan = moved
    destination = HandoffDestination.objects.create(
        plan=plan, position=1, kind="zendesk", url="https://brand.zendesk.com", credential_env="DUSK_CHANNEL_Z"
    )
    first = _request(conversation, plan, minutes_ago=5, message="First")
    HandoffDelivery.objects.create(request=first, destination=destination, state="sent", remote_id="4411", attempts=1)
    for i in range(51):
        _request(conversation, plan, minutes_ago=i / 100, message=f"later {i}")
    url = f"/api/v1/plans/{plan.pk}/contact-requests/"
    body = _api(manager).get(url).json()
    assert body["count"] == 52 and len(body["results"]) == 50 and body["next"]
    assert body["results"][0]["message"] == "later 0"
    assert body["results"][0]["reference"] == conversation.reference
    assert body["results"][0]["handoffs"] == []
    last = _api(manager).get(url, {"page": 2}).json()["results"]
    assert [r["message"] for r in last] == ["later 50", "First"]
    assert last[1]["handoffs"] == [{"destination": "zendesk", "state": "sent", "attempts": 1, "remote_id": "4411"}]
    assert last[1]["email"] == "camille@example.com" and "Customer: My order 4411" in last[1]["transcript"]
    for person in (approver, hr_coordinator, viewer):
        refused = _api(person).get(url)
        assert refused.status_code == 403 and "First" not in refused.content.decode()
    assert _api(manager).get("/api/v1/plans/999999/contact-requests/").status_code == 404
