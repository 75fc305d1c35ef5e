from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app.cutover.services.engine import record_sweep_heartbeat
from channels_app.models import Phase
from channels_app.tests.support.factories import ChannelFactory
from channels_app.tests.support.helpers import approved_plan, hard_close_plan

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


def test_healthz_is_ok_when_database_broker_and_beat_are_alive(client):
    record_sweep_heartbeat()
    response = client.get(reverse("healthz"))
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["beat"]["ok"] is True
    assert 0 <= body["beat"]["last_sweep_age_s"] < 5
    assert body["due_phases"] == {"ok": True, "oldest_unclaimed_age_s": None}


def test_healthz_is_503_when_beat_never_swept(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["beat"] == {"ok": False, "last_sweep_age_s": None, "stale_after_s": 60.0}


def test_healthz_is_503_when_beat_last_swept_past_the_threshold(client, settings):
    settings.DUSK_BEAT_STALE_AFTER = 30
    record_sweep_heartbeat(now=timezone.now() - timedelta(seconds=31))
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["beat"]["ok"] is False
    assert response.json()["beat"]["last_sweep_age_s"] >= 31


def test_healthz_reports_a_due_phase_nobody_claimed(client, manager, approver, settings):
    settings.DUSK_BEAT_STALE_AFTER = 30
    record_sweep_heartbeat()
    plan = approved_plan(manager=manager, approver=approver, channels=[ChannelFactory()])
    Phase.objects.filter(plan=plan).update(instant=timezone.now() - timedelta(minutes=5))
    body = client.get(reverse("healthz")).json()
    assert body["due_phases"]["ok"] is False
    assert body["due_phases"]["oldest_unclaimed_age_s"] >= 300
    assert client.get(reverse("healthz")).status_code == 503


def test_healthz_shows_no_exception_text_to_anonymous_callers(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    record_sweep_heartbeat()
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["broker"] == {"ok": False}
    text = response.content.decode()
    assert "Error" not in text and "refused" not in text.lower() and "127.0.0.1" not in text


def test_healthz_tells_a_signed_in_admin_why(client, settings, administrator, viewer):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    record_sweep_heartbeat()
    client.force_login(viewer)
    assert "detail" not in client.get(reverse("healthz")).json()["broker"]
    client.force_login(administrator)
    broker = client.get(reverse("healthz")).json()["broker"]
    assert broker["ok"] is False
    assert broker["transport"] == "redis"
    assert "Error" in broker["detail"]


def test_a_failed_run_waits_on_its_owners_dashboard_until_someone_acts(client, manager, approver, viewer):
    from channels_app.tests.support.factories import CutoverRunFactory, PhaseFactory, SunsetPlanFactory

    plan = SunsetPlanFactory(author=manager, approved_by=approver, state="failed", title="Retire Messenger support")
    run = CutoverRunFactory(
        phase=PhaseFactory(plan=plan, kind="hard_close"), state="failed", finished_at=timezone.now()
    )
    for person in (manager, approver):
        client.force_login(person)
        html = " ".join(client.get(reverse("home")).content.decode().split())
        assert "Runs that failed" in html and f'href="/runs/{run.pk}/"' in html
        assert "Nothing waits for you." not in html
    # Once the plan no longer stands failed (copied, rolled back...), it stops waiting.
    plan.state = "cancelled"
    plan.save(update_fields=["state"])
    client.force_login(manager)
    assert "Runs that failed" not in client.get(reverse("home")).content.decode()
