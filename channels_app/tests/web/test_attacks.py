"""The attacks found from outside, each replayed over HTTP against the app: every test here
performs one attack and fails when the door it used is open again.

The SSRF table (hostile base URLs and mailboxes, a listening socket that sees nothing) is in
channels_app/tests/platforms/test_hosts.py.
"""

import base64
import csv
import hashlib
import hmac
import io
import json
import logging
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest
from django.core import checks
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from channels_app.core.logs import RedactSecrets
from channels_app.models import (
    AuditEvent,
    Channel,
    Conversation,
    LandingVisit,
    Message,
    PlanDraft,
    PlanState,
    RedirectClick,
    SunsetPlan,
)
from channels_app.plans.services.plans import RedirectInput
from channels_app.platforms.services.outbox import http_client
from channels_app.platforms.services.polling import poll_youtube_channel
from channels_app.tests.support.factories import ChannelFactory, ConversationFactory
from channels_app.tests.support.fakeplatforms import build_tweet
from channels_app.tests.support.helpers import BROWSER, approved_plan, hard_close_plan
from channels_app.tests.support.inbound_helpers import BRAND_ID, WEBHOOK_SECRET, platform_channel
from channels_app.tests.support.workforce_helpers import build_world, world_plan

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _nothing_stored() -> bool:
    return not (Message.objects.exists() or Conversation.objects.exists())


class _Answering(BaseHTTPRequestHandler):
    """An internal service that answers every request with a page nobody outside may read."""

    body = b"<html><body><h1>Admin</h1><pre>INTERNAL-ONLY: db01.corp password=hunter2</pre></body></html>"
    status = 403

    def _answer(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def internal_service():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answering)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def console_output():
    """What the configured console handler (with its filters) writes, as text."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    old = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(old)


# --- 1. X signatures forged through the CRC answer ------------------------------------------


def test_the_crc_answer_cannot_sign_a_forged_delivery(client, retired_x):
    body = json.dumps(
        {
            "for_user_id": BRAND_ID,
            "tweet_create_events": [build_tweet("1850000000000000777", "@brand forged", "999", "mallory")],
        }
    )
    crc = client.get(f"/hooks/{retired_x.pk}/x", {"crc_token": body})
    assert crc.status_code == 400
    signature = crc.json().get("response_token", "sha256=forged")
    forged = client.post(
        f"/hooks/{retired_x.pk}/x",
        body,
        content_type="application/json",
        headers={"x-twitter-webhooks-signature": signature},
    )
    assert forged.status_code == 403
    assert not Message.objects.filter(platform_message_id="1850000000000000777").exists()


# --- 2. a manager sends a server secret anywhere ----------------------------------------------


@pytest.mark.parametrize("field", ["api_token_env", "webhook_secret_env"])
@pytest.mark.parametrize("name", ["DJANGO_SECRET_KEY", "DATABASE_URL", "PATH", "dusk_channel_lower", "DUSK_CHANNEL_"])
def test_a_channel_cannot_name_a_variable_outside_the_channel_prefix(manager, field, name):
    response = api(manager).post("/api/v1/channels/", {"kind": "x", "name": "Leak", field: name}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not Channel.objects.filter(name="Leak").exists()


def test_a_webhook_secret_pointed_at_a_public_variable_is_not_used(client, monkeypatch, manager, approver):
    """A row written before the rule (or by hand) is refused where the secret is read."""
    monkeypatch.setenv("HOME_PAGE_COLOUR", "blue")
    channel = platform_channel("x", webhook_secret_env="HOME_PAGE_COLOUR")
    body = json.dumps(
        {"for_user_id": BRAND_ID, "tweet_create_events": [build_tweet("18501", "@brand hi", "42", "ana")]}
    )
    signature = "sha256=" + base64.b64encode(hmac.new(b"blue", body.encode(), hashlib.sha256).digest()).decode()
    response = client.post(
        f"/hooks/{channel.pk}/x",
        body,
        content_type="application/json",
        headers={"x-twitter-webhooks-signature": signature},
    )
    assert response.status_code == 503
    assert _nothing_stored()


# --- 3. internal answers shown to everyone --------------------------------------------------


def test_an_internal_answer_is_never_shown_in_the_message_log(client, viewer, internal_service, platform_secrets):
    channel = platform_channel("youtube", internal_service)
    poll_youtube_channel(channel_id=channel.pk)
    channel.refresh_from_db()
    assert channel.poll_error  # the failure is said...
    assert "INTERNAL-ONLY" not in channel.poll_error  # ...without the answer's body
    client.force_login(viewer)
    page = client.get(reverse("channel_messages", args=[channel.pk]))
    assert page.status_code == 200
    assert b"INTERNAL-ONLY" not in page.content


# --- 4. the tracked link follows a draft ------------------------------------------------------


def test_the_tracked_link_never_follows_a_draft(client, manager):
    channel = ChannelFactory(kind="x")
    conversation = ConversationFactory(channel=channel)
    hard_close_plan(
        manager=manager,
        channels=[channel],
        redirects=[RedirectInput("url", "Log in", "https://phish.example/login")],
    )
    response = client.get(reverse("tracked_redirect", args=[conversation.reference]), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 404
    assert "phish.example" not in response.get("Location", "")
    assert b"phish.example" not in response.content
    response = client.get(reverse("landing_choose", args=[conversation.reference, 1]), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 404
    assert "phish.example" not in response.get("Location", "")


# --- 5. secrets in logs ---------------------------------------------------------------------------


def test_a_request_url_with_an_access_token_is_logged_without_it(internal_service, console_output, settings):
    logging.getLogger("httpx").setLevel(logging.INFO)
    http_client().get(f"{internal_service}/v19.0/me/messages?access_token=EAAGpagetoken123&x=1")
    text = console_output.getvalue()
    assert "HTTP Request" in text
    assert "EAAGpagetoken123" not in text


# --- 6. CSV formula injection -------------------------------------------------------------------


def test_every_exported_cell_is_defused(client, manager):
    world = build_world()
    plan = world_plan(world, manager)
    agent = world.agents["Chen"]
    agent.skills = ['=HYPERLINK("http://evil.example","x")']
    agent.languages = ["+cmd"]
    agent.save()
    client.force_login(manager)
    response = client.get(reverse("plan_reassignments_csv", args=[plan.pk]))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


# --- 7. an approved plan rescheduled without approval ---------------------------------------------


def test_moving_an_approved_phase_returns_the_plan_to_approval(manager, approver):
    channel = ChannelFactory(kind="x")
    plan = approved_plan(manager=manager, approver=approver, channels=[channel])
    phase = plan.phases.get()
    soon = timezone.now() + timedelta(days=2)
    response = api(manager).post(
        f"/api/v1/plans/{plan.pk}/phases/{phase.pk}/reschedule/",
        {"local_date": str(soon.date()), "local_time": "09:00", "time_zone": "UTC"},
        format="json",
    )
    assert response.status_code == 200, response.content
    plan.refresh_from_db()
    assert plan.state == PlanState.PENDING_APPROVAL
    assert AuditEvent.objects.filter(action="plan.returned_to_approval", object_id=str(plan.pk)).exists()


# --- 8. Mailgun deliveries replayed with another body -------------------------------------------


def test_a_mailgun_signature_cannot_be_replayed_with_another_body(client, platform_secrets):
    mailbox = platform_channel("email")
    timestamp, token = str(int(time.time())), "c" * 50
    signature = hmac.new(WEBHOOK_SECRET.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    fields = {"sender": "jan@example.org", "subject": "Vraag", "timestamp": timestamp, "token": token}
    fields["signature"] = signature
    first = client.post(f"/hooks/{mailbox.pk}/email", {**fields, "body-plain": "Waar?", "Message-Id": "<a@x>"})
    assert first.status_code == 200, first.content
    replay = client.post(f"/hooks/{mailbox.pk}/email", {**fields, "body-plain": "Pay here", "Message-Id": "<b@x>"})
    assert replay.status_code == 403
    assert not Message.objects.filter(platform_message_id="<b@x>").exists()


# --- 9. a NUL byte gives 500 --------------------------------------------------------------------


def test_a_nul_in_the_tracked_link_is_a_clear_refusal(client):
    assert client.get("/r/DSK-%00AAAA").status_code in (400, 404)


def test_a_nul_in_the_reassignment_search_is_a_clear_refusal(client, manager):
    world = build_world()
    plan = world_plan(world, manager)
    client.force_login(manager)
    response = client.get(reverse("plan_reassignments", args=[plan.pk]), {"q": "Ch\x00en"})
    assert response.status_code == 400


# --- 10. lockout behind a proxy with a proxy count of 0 -----------------------------------------


def test_a_forwarded_header_with_no_trusted_proxy_is_a_deploy_warning(client, settings, tmp_path):
    settings.DUSK_PROXY_COUNT = 0
    settings.VAR_DIR = tmp_path
    client.post(reverse("login"), {"username": "maya", "password": "wrong"}, headers={"x-forwarded-for": "203.0.113.9"})
    found = checks.run_checks(include_deployment_checks=True)
    assert "dusk.W101" in {message.id for message in found}


# --- 11. log forging through the CSP report -----------------------------------------------------


def test_a_csp_report_cannot_forge_a_log_line(client, console_output):
    body = '{"csp-report": {}}\n2026-12-04 09:00:00,000 CRITICAL dusk admin signed in from 10.0.0.1'
    response = client.post(reverse("csp_report"), body, content_type="application/csp-report")
    assert response.status_code == 204
    lines = console_output.getvalue().splitlines()
    assert lines and not [line for line in lines if line.startswith("2026-12-04 09:00:00,000 CRITICAL")]


# --- 12. anonymous writes without limit -----------------------------------------------------------


def test_following_a_tracked_link_many_times_writes_one_row(client, manager, approver):
    cache.clear()  # this minute's per-address bound starts afresh
    channel = ChannelFactory(kind="x")
    conversation = ConversationFactory(channel=channel)
    approved_plan(manager=manager, approver=approver, channels=[channel])
    for _ in range(50):
        landing = client.get(reverse("tracked_redirect", args=[conversation.reference]), HTTP_USER_AGENT=BROWSER)
        assert landing.status_code == 200
        choose = client.get(reverse("landing_choose", args=[conversation.reference, 1]), HTTP_USER_AGENT=BROWSER)
        assert choose.status_code == 302
    # Every request is recorded up to the per-minute bound, but one person counts once.
    assert LandingVisit.objects.filter(kind="human").count() == 1
    assert LandingVisit.objects.count() <= 30
    assert RedirectClick.objects.count() == 1


# --- 14. input the portal should refuse ---------------------------------------------------------


@pytest.mark.parametrize("bad", ["\x00", "\x07", "\x1b[31m", "a\rb", "\x7f", "\u202egnp.exe", "\u2066x"])
def test_control_and_bidi_characters_in_a_title_are_refused_by_the_api(manager, bad):
    channel = ChannelFactory(kind="x")
    body = {
        "title": f"Retire {bad}",
        "channels": [channel.pk],
        "phases": [{"kind": "hard_close", "local_date": "2031-05-01", "local_time": "09:00", "time_zone": "UTC"}],
        "redirects": [{"kind": "url", "label": "Web", "value": "https://help.example.com"}],
        "auto_replies": [{"phase_kind": "hard_close", "locale": "en", "text": "We moved: {redirect_url}"}],
    }
    response = api(manager).post("/api/v1/plans/", body, format="json")
    assert response.status_code == 400, response.content
    assert not SunsetPlan.objects.exists()


@pytest.mark.parametrize("bad", ["\x00", "\x07", "\u202e"])
def test_control_characters_in_the_wizard_and_autosave_are_refused(client, manager, bad):
    channel = ChannelFactory(kind="x")
    client.force_login(manager)
    client.get(reverse("plan_new"))
    draft = PlanDraft.objects.get(author=manager)
    saved = client.post(
        reverse("plan_draft_autosave", args=[draft.pk]),
        {"step": "channels", "title": f"Retire{bad}", "channels": [channel.pk]},
    )
    assert saved.status_code in (400, 422)
    step = client.post(reverse("plan_new"), {"step": "channels", "title": f"Retire{bad}", "channels": [channel.pk]})
    assert step.status_code in (400, 422)
    draft.refresh_from_db()
    assert bad not in json.dumps(draft.data, ensure_ascii=False)


def test_invalid_utf8_in_a_form_body_is_refused_not_replaced(client, manager):
    channel = ChannelFactory(kind="x")
    client.force_login(manager)
    client.get(reverse("plan_new"))
    draft = PlanDraft.objects.get(author=manager)
    body = b"step=channels&title=Retire%FF%FEsupport&channels=" + str(channel.pk).encode()
    response = client.post(
        reverse("plan_draft_autosave", args=[draft.pk]), body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in (400, 422)
    draft.refresh_from_db()
    assert "\ufffd" not in json.dumps(draft.data, ensure_ascii=False)


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules"])
def test_only_canonical_zones_are_accepted(manager, zone):
    channel = ChannelFactory(kind="x")
    body = {
        "title": "Retire X",
        "channels": [channel.pk],
        "phases": [{"kind": "hard_close", "local_date": "2031-05-01", "local_time": "09:00", "time_zone": zone}],
        "redirects": [{"kind": "url", "label": "Web", "value": "https://help.example.com"}],
        "auto_replies": [{"phase_kind": "hard_close", "locale": "en", "text": "We moved: {redirect_url}"}],
    }
    response = api(manager).post("/api/v1/plans/", body, format="json")
    assert response.status_code == 400, response.content
    assert not SunsetPlan.objects.exists()


def test_a_draft_is_bounded_in_size(client, manager):
    client.force_login(manager)
    client.get(reverse("plan_new"))
    draft = PlanDraft.objects.get(author=manager)
    huge = "a" * 1_000_000
    response = client.post(
        reverse("plan_draft_autosave", args=[draft.pk]),
        {
            "step": "replies",
            "replies-TOTAL_FORMS": "1",
            "replies-0-phase_kind": "hard_close",
            "replies-0-locale": "en",
            "replies-0-text": huge,
        },
    )
    assert response.status_code in (400, 413, 422)
    draft.refresh_from_db()
    assert len(json.dumps(draft.data)) < 100_000


# --- 15. small leaks ------------------------------------------------------------------------------


def test_a_webhook_503_does_not_name_the_secret_variable(client, monkeypatch):
    monkeypatch.delenv("DUSK_CHANNEL_TEST_WEBHOOK_SECRET", raising=False)
    channel = platform_channel("x")
    response = client.post(f"/hooks/{channel.pk}/x", b"{}", content_type="application/json")
    assert response.status_code == 503
    assert "DUSK_CHANNEL" not in response.content.decode()
    assert "environment variable" not in response.content.decode()


def test_healthz_tells_anonymous_callers_no_vendor_or_broker(client, settings):
    response = Client().get(reverse("healthz"))
    body = response.json()
    assert set(body) >= {"status", "database", "broker"}
    text = response.content.decode()
    transport = settings.CELERY_BROKER_URL.split("://", 1)[0]
    assert "postgresql" not in text
    assert f'"{transport}"' not in text
    assert "vendor" not in body["database"] and "transport" not in body["broker"]


def _url_in_each_credential_form():
    return [
        (
            "messenger",
            "GET https://graph.facebook.com/v19.0/me/messages?access_token=EAAGsecret1&fields=id",
            "EAAGsecret1",
        ),
        ("x", "headers {'Authorization': 'Bearer AAAAsecret2'}", "AAAAsecret2"),
        ("discourse", "headers {'Api-Key': 'd1scourse-secret3', 'Api-Username': 'bot'}", "d1scourse-secret3"),
        ("youtube", "GET https://www.googleapis.com/youtube/v3/commentThreads?key=AIzasecret4&part=id", "AIzasecret4"),
        ("youtube", "Authorization: Bearer ya29.secret5", "ya29.secret5"),
        ("email", "imaps://support%40brand.example:mailb0x-secret6@imap.example.com/INBOX", "mailb0x-secret6"),
        ("email", "Basic auth Authorization: Basic dXNlcjpzZWNyZXQ3", "dXNlcjpzZWNyZXQ3"),
        ("mailgun", "fields timestamp=1 token=abc signature=0f1e2d3c4b5a69788796a5b4c3d2e1f0", "0f1e2d3c4b5a6978"),
    ]


@pytest.mark.parametrize(("platform", "line", "secret"), _url_in_each_credential_form())
def test_the_log_filter_redacts_each_platforms_credential_form(platform, line, secret):
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "%s", (line,), None)
    assert RedactSecrets().filter(record)
    assert secret not in record.getMessage()


def test_a_form_body_in_a_query_string_is_left_alone():
    """Sanity: the filter keeps the rest of the line."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "GET %s", (f"/a?{urlencode({'q': 'ok'})}",), None)
    RedactSecrets().filter(record)
    assert record.getMessage() == "GET /a?q=ok"


def test_a_nul_byte_is_refused_with_a_page_in_the_portals_layout_and_the_readers_language(client, manager):
    client.force_login(manager)
    client.get(reverse("plan_new"))
    draft = PlanDraft.objects.get(author=manager)
    response = client.post(reverse("plan_new"), {"step": "channels", "title": "Retire\x00X"})
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert '<nav class="mainnav"' in html and "New sunset" in html  # the layout, with the person's menu
    assert "“title” holds a character the portal does not accept (U+0000)." in html
    assert "Nothing was changed." in html
    assert "Content-Security-Policy" in response  # the strict policy, like every page
    client.post(reverse("set_language"), {"language": "id", "next": "/"})
    autosave = client.post(reverse("plan_draft_autosave", args=[draft.pk]), {"step": "channels", "title": "a\x00"})
    assert autosave.status_code == 400
    html = autosave.content.decode()
    assert 'lang="id"' in html and "Permintaan ditolak" in html
    draft.refresh_from_db()
    assert "\x00" not in json.dumps(draft.data)
    # In the address too, and for someone not signed in whose browser asks for French.
    client.logout()
    client.cookies.pop("django_language", None)
    response = client.get("/plans/?q=a%00b", headers={"accept-language": "fr"})
    assert response.status_code == 400 and "Requête refusée" in response.content.decode()
