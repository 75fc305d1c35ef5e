"""/metrics: the Prometheus families an operator watches, behind a token or an allow-list."""

import json
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from channels_app.handoff.adapters.webhook import signature
from channels_app.models import (
    CutoverRun,
    HandoffDelivery,
    HandoffDestination,
    HandoffRequest,
    OutboxMessage,
    OutboxState,
    RunState,
)
from channels_app.plans.services.plans import RedirectInput
from channels_app.tests.support.factories import ChannelFactory, ConversationFactory
from channels_app.tests.support.fakeplatforms import FakeX, build_tweet
from channels_app.tests.support.helpers import approved_plan, utc_phase, wait_for
from channels_app.tests.support.inbound_helpers import platform_channel, post_x, sunset
from portal.celery import app

TOKEN = "metrics-token-for-tests"
FAMILIES = (
    "dusk_webhook_deliveries",
    "dusk_reply_backlog",
    "dusk_reply_backlog_oldest_seconds",
    "dusk_publications",
    "dusk_cutover_runs",
    "dusk_cutover_run_progress_ratio",
    "dusk_cutover_run_duration_seconds",
    "dusk_schedule_lag_seconds",
    "dusk_celery_task_failures",
    "dusk_celery_task_retries",
    "dusk_signin_failures",
    "dusk_handoff_arrivals",
    "dusk_handoff_deliveries",
)


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics: (sample name, sorted labels) -> value."""
    response = client.get(reverse("metrics"), headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def family_names(client) -> set[str]:
    response = client.get(reverse("metrics"), headers={"Authorization": f"Bearer {TOKEN}"})
    return {family.name for family in text_string_to_metric_families(response.content.decode())}


@pytest.fixture
def metrics_token(settings):
    settings.DUSK_METRICS_TOKEN = TOKEN
    settings.DUSK_METRICS_ALLOWED_IPS = []
    return TOKEN


@pytest.mark.django_db
def test_metrics_are_refused_without_the_token(client, metrics_token, administrator):
    assert client.get(reverse("metrics")).status_code == 401
    assert client.get(reverse("metrics"), headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(reverse("metrics"), headers={"Authorization": TOKEN}).status_code == 401
    client.force_login(administrator)  # a role is not enough either
    response = client.get(reverse("metrics"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"dusk_" not in response.content


@pytest.mark.django_db
def test_metrics_answer_nobody_when_neither_token_nor_allow_list_is_set(client, settings):
    settings.DUSK_METRICS_TOKEN = ""
    settings.DUSK_METRICS_ALLOWED_IPS = []
    assert client.get(reverse("metrics")).status_code == 401
    assert client.get(reverse("metrics"), headers={"Authorization": "Bearer "}).status_code == 401


@pytest.mark.django_db
def test_metrics_answer_an_allow_listed_address(client, settings):
    settings.DUSK_METRICS_TOKEN = ""
    settings.DUSK_METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get(reverse("metrics"), REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get(reverse("metrics"), REMOTE_ADDR="192.0.2.1").status_code == 401


@pytest.mark.django_db
def test_metrics_show_every_family(client, metrics_token):
    assert set(FAMILIES) <= family_names(client)


@pytest.mark.django_db
def test_failed_sign_ins_are_counted(client, metrics_token, manager):
    before = scrape(client).get(("dusk_signin_failures_total", ()), 0)
    client.post(reverse("login"), {"username": "maya", "password": "wrong"})
    client.post(reverse("login"), {"username": "nobody", "password": "wrong"})
    assert scrape(client)[("dusk_signin_failures_total", ())] == before + 2


ARRIVAL_SECRET_ENV = "DUSK_CHANNEL_METRICS_ARRIVALS"


@pytest.mark.django_db
def test_arrival_reports_and_hand_off_deliveries_are_counted(client, metrics_token, manager, approver, monkeypatch):
    monkeypatch.setenv(ARRIVAL_SECRET_ENV, "arrival-secret")
    channel = ChannelFactory(kind="x")
    conversation = ConversationFactory(channel=channel)
    redirects = [
        RedirectInput("phone", "Phone", "+33 1 23 45 67 89"),
        RedirectInput("url", "Web", "https://help.example.com"),
    ]
    plan = approved_plan(manager=manager, approver=approver, channels=[channel], redirects=redirects)
    destination = HandoffDestination.objects.create(
        plan=plan,
        position=1,
        kind="webhook",
        url="https://hooks.example.com/dusk",
        credential_env="DUSK_CHANNEL_METRICS_HOOK",
        arrival_secret_env=ARRIVAL_SECRET_ENV,
    )
    for state in ("sent", "sent", "failed", "pending", "sending"):  # one delivery per request and destination
        request = HandoffRequest.objects.create(
            conversation=conversation,
            plan=plan,
            name="Cara",
            email="cara@example.com",
            message="hi",
            created_at=timezone.now(),
        )
        HandoffDelivery.objects.create(request=request, destination=destination, state=state)
    start = scrape(client)

    def outcome(name):
        return ("dusk_handoff_arrivals_total", (("outcome", name),))

    url = reverse("handoff_arrival", args=[destination.pk])
    stamp = str(int(time.time()))

    def post(body, *, secret="arrival-secret", signed=True):
        raw = json.dumps(body).encode()
        headers = {"HTTP_X_DUSK_TIMESTAMP": stamp, "HTTP_X_DUSK_SIGNATURE": signature(secret, stamp, raw)}
        return client.post(url, raw, content_type="application/json", **(headers if signed else {}))

    assert post({"reference": conversation.reference, "status": "arrived"}).status_code == 200
    assert post({"reference": conversation.reference, "status": "solved"}).status_code == 200
    assert post({"reference": conversation.reference, "status": "arrived"}, signed=False).status_code == 401
    assert post({"reference": conversation.reference, "status": "arrived"}, secret="wrong").status_code == 403
    assert post({"reference": conversation.reference, "status": "lost"}).status_code == 400
    assert post({"reference": "DSK-NOPE0000", "status": "arrived"}).status_code == 404
    now = scrape(client)
    assert now[outcome("accepted")] == start.get(outcome("accepted"), 0) + 2
    assert now[outcome("401")] == start.get(outcome("401"), 0) + 1
    assert now[outcome("403")] == start.get(outcome("403"), 0) + 1
    assert now[outcome("4xx")] == start.get(outcome("4xx"), 0) + 2

    def deliveries(kind, name):
        return now[("dusk_handoff_deliveries", (("destination", kind), ("outcome", name)))]

    assert (deliveries("webhook", "sent"), deliveries("webhook", "failed"), deliveries("webhook", "waiting")) == (
        2,
        1,
        2,
    )
    assert (deliveries("zendesk", "sent"), deliveries("zendesk", "failed"), deliveries("zendesk", "waiting")) == (
        0,
        0,
        0,
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_counters_move_when_a_webhook_is_delivered_a_reply_sent_and_a_run_finished(
    client, metrics_token, manager, approver, platform_secrets, celery_workers
):
    completed = ("dusk_cutover_runs_total", (("state", RunState.COMPLETED),))
    lag_count = ("dusk_schedule_lag_seconds_count", ())
    duration_count = ("dusk_cutover_run_duration_seconds_count", ())
    with FakeX() as fake_x:
        start = scrape(client)
        channel = platform_channel("x", fake_x.base_url)
        sunset(manager=manager, approver=approver, channels=[channel])  # three runs, in this process
        after_sunset = scrape(client)
        assert after_sunset[completed] == start.get(completed, 0) + 3
        assert after_sunset[duration_count] == start[duration_count] + 3

        # A webhook delivered: counted by platform and status; its reply waits in the backlog.
        delivered = ("dusk_webhook_deliveries_total", (("platform", "x"), ("status", "200")))
        refused = ("dusk_webhook_deliveries_total", (("platform", "x"), ("status", "403")))
        assert post_x(client, channel, [build_tweet("9001", "@brand hello?", "77", "cara")]).status_code == 200
        bad = client.post(f"/hooks/{channel.pk}/x", b"{}", content_type="application/json")
        assert bad.status_code == 403
        backlog_labels = (("channel", channel.name), ("channel_id", str(channel.pk)), ("platform", "x"))
        now = scrape(client)
        assert now[delivered] == after_sunset.get(delivered, 0) + 1
        assert now[refused] == after_sunset.get(refused, 0) + 1
        assert now[("dusk_reply_backlog", backlog_labels)] == 1
        assert now[("dusk_reply_backlog_oldest_seconds", backlog_labels)] >= 0

        # A run due now, and the reply: both done by a real worker (with beat).
        other = ChannelFactory(name="Brand forum")
        other_plan = approved_plan(
            manager=manager,
            approver=approver,
            channels=[other],
            title="Retire the forum",
            phases=[utc_phase("hard_close", timezone.now() + timedelta(seconds=4))],
        )
        worker = celery_workers("w1", DUSK_OUTBOX_SWEEP_INTERVAL="0.5", DUSK_LOG_JSON="1")
        worker.wait_ready()
        wait_for(
            lambda: (
                OutboxMessage.objects.filter(channel=channel, state=OutboxState.SENT).count() == 1
                and scrape(client).get(completed) == after_sunset[completed] + 1
            ),
            timeout=60,
            interval=0.5,
            message=f"the reply sent and the run finished\n{worker.log()[-3000:]}",
        )
        final = scrape(client)
        sent = ("dusk_publications_total", (("kind", "auto_reply"), ("platform", "x"), ("state", "sent")))
        assert final[sent] == after_sunset.get(sent, 0) + 1
        assert ("dusk_reply_backlog", backlog_labels) not in final
        assert final[lag_count] == after_sunset[lag_count] + 1
        assert len(fake_x.tweets) == 1
    # The worker logged in JSON (DUSK_LOG_JSON): the run's lines carry its run, plan and task ids.
    run = CutoverRun.objects.get(plan=other_plan)
    lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    started = next(line for line in lines if line["message"].startswith(f"run {run.pk}: started"))
    assert (started["run_id"], started["plan_id"]) == (run.pk, other_plan.pk)
    assert started["task"] == "channels_app.tasks.run_cutover_task" and started["task_id"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_task_failing_in_a_worker_is_counted_where_the_web_process_reads(
    client, metrics_token, settings, celery_workers
):
    # Workers and web share the counters through the cache (DUSK_CACHE_URL): a database cache in
    # the test database here, whichever the broker is.
    shared = "dbcache://dusk_metrics_cache"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "dusk_metrics_cache"}
    }
    call_command("createcachetable", verbosity=0)
    failures = ("dusk_celery_task_failures_total", (("task", "channels_app.tasks.watchdog_task"),))
    assert failures not in scrape(client)
    worker = celery_workers("w1", DUSK_CACHE_URL=shared)
    worker.wait_ready()
    app.send_task("channels_app.tasks.watchdog_task", args=["not", "its", "arguments"])
    wait_for(
        lambda: scrape(client).get(failures) == 1,
        timeout=30,
        interval=0.3,
        message=f"the failure counted\n{worker.log()[-3000:]}",
    )
