"""The landing page's and hand-offs' rows in the admin site: listed and shown to a superuser,
never added, changed or deleted there; a failed hand-off is sent again through the service."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from channels_app.core.permissions import ensure_roles
from channels_app.handoff.services.landing import record_choice, record_landing
from channels_app.models import (
    AuditEvent,
    HandoffArrival,
    HandoffDelivery,
    HandoffDeliveryState,
    HandoffDestination,
    HandoffRequest,
    LandingPage,
    LandingVisit,
    RedirectClick,
    RedirectTarget,
)
from channels_app.plans.services.landing import save_landing_page
from channels_app.plans.services.plans import RedirectInput
from channels_app.tests.support.factories import ChannelFactory, ConversationFactory
from channels_app.tests.support.helpers import BROWSER, approved_plan

pytestmark = pytest.mark.django_db

MODELS = [LandingPage, LandingVisit, RedirectClick, HandoffRequest, HandoffDestination, HandoffDelivery, HandoffArrival]


@pytest.fixture
def superuser(django_user_model):
    ensure_roles()
    user = django_user_model.objects.create_user(username="ada", password="x", is_superuser=True)
    user.groups.set(Group.objects.filter(name="admin"))
    return user


@pytest.fixture
def one_of_each(manager, approver):
    """A moved customer who landed, chose, wrote to us and arrived; the hand-off failed."""
    channel = ChannelFactory(kind="x")
    conversation = ConversationFactory(channel=channel)
    plan = approved_plan(
        manager=manager,
        approver=approver,
        channels=[channel],
        redirects=[
            RedirectInput("phone", "Phone", "+33 1 23 45 67 89"),
            RedirectInput("url", "Web", "https://x.example"),
        ],
    )
    save_landing_page(
        actor=manager,
        plan=plan,
        display_name="Brand Co",
        accent="#aa3300",
        reference_param="ref",
        phone_opens=None,
        phone_closes=None,
        phone_zone="",
        logo=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        logo_type="image/png",
    )
    record_landing(conversation=conversation, visitor="v1", user_agent=BROWSER, method="GET")
    record_choice(
        conversation=conversation, target=RedirectTarget.objects.get(plan=plan, position=1), user_agent=BROWSER
    )
    destination = HandoffDestination.objects.create(
        plan=plan, position=1, kind="webhook", url="https://hooks.example.com/dusk", credential_env="DUSK_CHANNEL_HOOK"
    )
    request = HandoffRequest.objects.create(
        conversation=conversation,
        plan=plan,
        name="Cara",
        email="cara@example.com",
        message="Hi",
        created_at=timezone.now(),
    )
    delivery = HandoffDelivery.objects.create(
        request=request, destination=destination, state=HandoffDeliveryState.FAILED, attempts=5, last_error="HTTP 410"
    )
    HandoffArrival.objects.create(
        destination=destination, conversation=conversation, status="arrived", at=timezone.now()
    )
    return delivery


def _admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:channels_app_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_each_changelist_and_row_answers_a_superuser(client, superuser, one_of_each, model):
    client.force_login(superuser)
    response = client.get(_admin_url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    row = model.objects.get()
    assert client.get(_admin_url(model, "change", row.pk)).status_code == 200


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_nothing_is_added_changed_or_deleted_there(client, superuser, one_of_each, model):
    client.force_login(superuser)
    row = model.objects.get()
    assert client.get(_admin_url(model, "add")).status_code == 403
    assert client.post(_admin_url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=row.pk).exists()


def test_the_logo_is_not_shown_as_bytes(client, superuser, one_of_each):
    client.force_login(superuser)
    html = client.get(_admin_url(LandingPage, "change", LandingPage.objects.get().pk)).content.decode()
    assert "Brand Co" in html
    assert "PNG" not in html


def test_a_failed_hand_off_is_sent_again_through_the_service(client, superuser, one_of_each):
    delivery = one_of_each
    client.force_login(superuser)
    response = client.post(
        _admin_url(HandoffDelivery, "changelist"),
        {"action": "requeue_deliveries", "_selected_action": [delivery.pk]},
        follow=True,
    )
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (HandoffDeliveryState.PENDING, 0)
    assert AuditEvent.objects.filter(action="handoff.delivery_requeued").count() == 1
    # A second time: only a failed hand-off can be sent again, and nothing changes.
    response = client.post(
        _admin_url(HandoffDelivery, "changelist"),
        {"action": "requeue_deliveries", "_selected_action": [delivery.pk]},
        follow=True,
    )
    assert "Only a failed hand-off can be sent again." in response.content.decode()
    assert AuditEvent.objects.filter(action="handoff.delivery_requeued").count() == 1
