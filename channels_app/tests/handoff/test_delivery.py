"""Handing contact requests off to Zendesk and to a signed webhook: real HTTP servers on
127.0.0.1 that check each request, retries with backoff and Retry-After, the look-up before a
resend, failures a person re-queues, and a real worker sending after the contact form."""

import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from channels_app.handoff.adapters.webhook import signature, verify
from channels_app.handoff.services.delivery import (
    requeue_handoff_delivery,
    send_due_handoffs,
    set_handoff_destination,
)
from channels_app.handoff.services.landing import request_handoff
from channels_app.models import AuditEvent, HandoffDelivery
from channels_app.tests.support.fakeplatforms import FakeHandoffReceiver, FakeZendesk, serve
from channels_app.tests.support.helpers import BROWSER, wait_for

pytestmark = pytest.mark.django_db

ZENDESK_ENV = "DUSK_CHANNEL_ZENDESK_HANDOFF"
WEBHOOK_ENV = "DUSK_CHANNEL_HANDOFF_SECRET"


@pytest.fixture
def zendesk(monkeypatch, settings):
    settings.DUSK_HANDOFF_TIMEOUT = 2.0
    fake = FakeZendesk()
    monkeypatch.setenv(ZENDESK_ENV, fake.credential)
    yield from serve(fake)


@pytest.fixture
def receiver(monkeypatch):
    fake = FakeHandoffReceiver()
    monkeypatch.setenv(WEBHOOK_ENV, fake.secret)
    yield from serve(fake)


def handed_off(moved, manager, *, kind, url, env):
    conversation, plan = moved
    set_handoff_destination(actor=manager, plan=plan, position=1, kind=kind, url=url, credential_env=env)
    request = request_handoff(
        conversation=conversation, plan=plan, name="Camille", email="camille@example.com", message="Still waiting."
    )
    return request, HandoffDelivery.objects.get(request=request)


def test_a_request_becomes_a_zendesk_ticket_after_a_500(moved, manager, zendesk):
    request, delivery = handed_off(moved, manager, kind="zendesk", url=zendesk.base_url, env=ZENDESK_ENV)
    zendesk.fail_next(500)
    now = timezone.now()
    assert send_due_handoffs(now=now) == 0
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("pending", 1, "Zendesk create ticket: HTTP 500")
    assert delivery.next_attempt_at == now + timedelta(seconds=10)
    assert send_due_handoffs(now=now + timedelta(seconds=5)) == 0  # not due yet: nothing sent
    assert send_due_handoffs(now=now + timedelta(seconds=11)) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.remote_id) == ("sent", "35436")
    [ticket] = zendesk.tickets
    reference = request.conversation.reference
    assert ticket["external_id"] == reference
    assert ticket["requester"] == {"name": "Camille", "email": "camille@example.com"}
    assert "Still waiting." in ticket["comment"]["body"]
    assert "Customer: My order 4411 never arrived" in ticket["comment"]["body"]
    assert [r.method for r in zendesk.received] == ["POST", "POST"]


def test_retry_after_is_respected(moved, manager, zendesk):
    _request, delivery = handed_off(moved, manager, kind="zendesk", url=zendesk.base_url, env=ZENDESK_ENV)
    zendesk.rate_limit_next("120")
    now = timezone.now()
    send_due_handoffs(now=now)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == now + timedelta(seconds=120)


def test_an_unanswered_attempt_is_looked_up_before_it_is_sent_again(moved, manager, zendesk, settings):
    settings.DUSK_HANDOFF_TIMEOUT = 0.5
    request, delivery = handed_off(moved, manager, kind="zendesk", url=zendesk.base_url, env=ZENDESK_ENV)
    # Zendesk creates the ticket, but its answer never arrives in time.
    zendesk.fail_next(201, delay=1.5, after_effect=True)
    now = timezone.now()
    send_due_handoffs(now=now)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.in_doubt) == ("pending", True)
    assert send_due_handoffs(now=now + timedelta(minutes=1)) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.remote_id) == ("sent", "35436")
    assert len(zendesk.tickets) == 1  # found, not created twice
    assert [(r.method, r.param("external_id")) for r in zendesk.received] == [
        ("POST", None),
        ("GET", request.conversation.reference),
    ]


def test_a_refused_request_fails_for_good_and_a_manager_requeues_it(moved, manager, viewer, zendesk, settings):
    _request, delivery = handed_off(moved, manager, kind="zendesk", url=zendesk.base_url, env=ZENDESK_ENV)
    zendesk.fail_next(422, body={"error": "RecordInvalid"})
    send_due_handoffs()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.last_error) == ("failed", "Zendesk create ticket: HTTP 422")
    assert AuditEvent.objects.filter(action="handoff.delivery_failed").exists()
    with pytest.raises(Exception):  # noqa: B017 - PermissionDenied: a viewer may not
        requeue_handoff_delivery(actor=viewer, delivery=delivery)
    requeue_handoff_delivery(actor=manager, delivery=delivery)
    with pytest.raises(ValidationError):
        requeue_handoff_delivery(actor=manager, delivery=delivery)  # pending now, not failed
    assert send_due_handoffs() == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("sent", 1)


def test_retries_run_out_into_failed(moved, manager, zendesk, settings):
    settings.DUSK_HANDOFF_ATTEMPTS = 2
    _request, delivery = handed_off(moved, manager, kind="zendesk", url=zendesk.base_url, env=ZENDESK_ENV)
    zendesk.fail_next(503, times=2)
    now = timezone.now()
    send_due_handoffs(now=now)
    send_due_handoffs(now=now + timedelta(hours=1))
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("failed", 2)


def test_a_signed_webhook_is_verified_by_its_receiver(moved, manager, receiver):
    request, delivery = handed_off(moved, manager, kind="webhook", url=receiver.url, env=WEBHOOK_ENV)
    receiver.fail_next(500)
    now = timezone.now()
    send_due_handoffs(now=now)
    assert send_due_handoffs(now=now + timedelta(minutes=1)) == 1
    delivery.refresh_from_db()
    assert delivery.remote_id == f"recv-dusk-handoff-{delivery.pk}"
    [body] = receiver.accepted.values()
    assert (body["reference"], body["email"]) == (request.conversation.reference, "camille@example.com")
    # Both attempts carried the same idempotency key.
    assert {r.headers["idempotency-key"] for r in receiver.received} == {f"dusk-handoff-{delivery.pk}"}


def test_the_signature_refuses_a_stale_timestamp_a_wrong_secret_and_a_changed_body():
    body, now = b'{"a": 1}', time.time()
    stamp = str(int(now))
    good = signature("s3cret", stamp, body)
    assert verify("s3cret", stamp, body, good, now=now, tolerance=300)
    assert not verify(
        "s3cret", str(int(now) - 301), body, signature("s3cret", str(int(now) - 301), body), now=now, tolerance=300
    )
    assert not verify("other", stamp, body, good, now=now, tolerance=300)
    assert not verify("s3cret", stamp, b'{"a": 2}', good, now=now, tolerance=300)
    assert not verify("s3cret", "soon", body, good, now=now, tolerance=300)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"position": 7}, "position"),
        ({"kind": "ftp"}, "kind"),
        ({"url": "http://169.254.169.254/latest"}, "url"),
        ({"credential_env": "HOME"}, "credential_env"),
    ],
)
def test_a_bad_destination_is_refused(moved, manager, changes, field):
    _conversation, plan = moved
    values = {"position": 1, "kind": "webhook", "url": "https://hooks.example.com/dusk", "credential_env": WEBHOOK_ENV}
    with pytest.raises(ValidationError) as refused:
        set_handoff_destination(actor=manager, plan=plan, **{**values, **changes})
    assert field in refused.value.message_dict
    assert not plan.handoff_destinations.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_hands_off_what_the_contact_form_took(client, moved, manager, zendesk, celery_workers):
    conversation, plan = moved
    set_handoff_destination(
        actor=manager, plan=plan, position=1, kind="zendesk", url=zendesk.base_url, credential_env=ZENDESK_ENV
    )
    zendesk.fail_next(500)
    worker = celery_workers(
        "handoff", DUSK_HANDOFF_BACKOFF_BASE="0.5", DUSK_HANDOFF_INTERVAL="0.5", **{ZENDESK_ENV: zendesk.credential}
    )
    worker.wait_ready()
    response = client.post(
        reverse("landing_contact", args=[conversation.reference]),
        {"name": "Camille", "email": "camille@example.com", "message": "Hello?", "website": ""},
        HTTP_USER_AGENT=BROWSER,
    )
    assert response.status_code == 302
    wait_for(
        lambda: HandoffDelivery.objects.filter(state="sent").exists(),
        timeout=30,
        interval=0.3,
        message=f"the hand-off sent\n{worker.log()[-3000:]}",
    )
    assert len(zendesk.tickets) == 1
    assert HandoffDelivery.objects.get().attempts == 2
