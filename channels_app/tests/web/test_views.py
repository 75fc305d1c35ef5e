import pytest
from django.urls import reverse

from channels_app.tests.support.factories import ChannelFactory
from channels_app.tests.support.helpers import hard_close_plan

pytestmark = pytest.mark.django_db


def test_home_requires_sign_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_home_lists_plans_with_their_state(client, manager):
    hard_close_plan(manager=manager, channels=[ChannelFactory(name="Brand on X")], title="Retire X support")
    client.force_login(manager)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Retire X support" in body
    assert "Brand on X" in body
    assert "Draft" in body


def test_home_has_an_empty_state(client, viewer):
    client.force_login(viewer)
    assert "No sunset plans yet" in client.get(reverse("home")).content.decode()


def test_signed_in_user_without_a_role_is_refused(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("home")).status_code == 403


def test_healthz_reports_database_and_broker(client):
    response = client.get(reverse("healthz"))
    body = response.json()
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert response.status_code == 200
    assert body["status"] == "ok"


def test_healthz_reports_an_unreachable_broker(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False
