"""The customer's story, end to end, with every part real: PostgreSQL, the broker, Celery worker
processes (one SIGKILLed mid-send), the live server, Debian's Chromium, and X and Zendesk played
by HTTP servers on 127.0.0.1 that check each request.

A French-speaking customer of a brand's support on X (a real thread of the public "Customer
Support on Twitter" corpus, ../shared/data/twcs_sample.csv: tweets 5833 and 5831, written to
@AppleSupport) has an open conversation when the channel's hard close runs. The worker runs the
cutover: the channel is retired, the conversation moved, a hand-off notice tweeted. The customer
answers that tweet; the webhook (signed as X signs it) stores the answer and the worker tweets the
auto-reply. The link in that auto-reply, read from what the fake X received, opens the landing
page in Chromium asking for French; the customer writes through its form. Zendesk answers the
first attempt with a 500 and holds the second one open, and the worker sending it is SIGKILLed;
Zendesk then creates the ticket, whose answer nobody reads. A new worker looks the reference up
(the attempt is in doubt), finds the ticket and sends nothing twice. The plan's manager reads the
funnel: one customer landed, one arrived."""

import base64
import csv
import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from channels_app.handoff.selectors import plan_funnel
from channels_app.handoff.services.delivery import set_handoff_destination
from channels_app.models import (
    ChannelState,
    Conversation,
    ConversationState,
    CutoverRun,
    HandoffDelivery,
    HandoffRequest,
    Message,
    OutboxMessage,
    RunState,
)
from channels_app.tests.support.browser import RECORD_VIOLATIONS, SCREENSHOTS, Session
from channels_app.tests.support.fakeplatforms import FakeX, FakeZendesk, build_account_activity, build_tweet, serve
from channels_app.tests.support.helpers import REDIRECTS, hard_close_plan, shared_data, submit_and_approve, wait_for
from channels_app.tests.support.inbound_helpers import BRAND_ID, REPLIES, WEBHOOK_SECRET, platform_channel

pytestmark = [pytest.mark.worker, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ZENDESK_ENV = "DUSK_CHANNEL_ZENDESK_STORY"
FIRST, FOLLOW_UP = "5833", "5831"  # the customer's tweet, and their answer to the brand's reply
# Short waits so the story fits in a minute; the second worker takes a claim over after 3 s
# (its own requests time out after 1 s: a claim still outlasts the request it covers).
FAST = {
    "DUSK_OUTBOX_SWEEP_INTERVAL": "0.5",
    "DUSK_HANDOFF_INTERVAL": "0.5",
    "DUSK_HANDOFF_BACKOFF_BASE": "0.5",
    # The customer answers the hand-off notice; the notice took the customer's one auto-reply
    # of the day (DUSK_AUTO_REPLY_COOLDOWN): here the day lasts two seconds.
    "DUSK_AUTO_REPLY_COOLDOWN": "2",
}


@pytest.fixture
def fake_x():
    yield from serve(FakeX())


@pytest.fixture
def zendesk(monkeypatch):
    fake = FakeZendesk()
    monkeypatch.setenv(ZENDESK_ENV, fake.credential)
    yield from serve(fake)


def sample_thread() -> dict[str, dict[str, str]]:
    with shared_data("twcs_sample.csv").open(newline="", encoding="utf-8") as f:
        tweets = {row["tweet_id"]: row for row in csv.DictReader(f) if row["tweet_id"] in (FIRST, FOLLOW_UP)}
    # The corpus's thread: the customer's tweet, the brand's answer (5832), the customer's reply.
    assert tweets[FOLLOW_UP]["in_response_to_tweet_id"] == "5832.0"
    assert tweets[FIRST]["author_id"] == tweets[FOLLOW_UP]["author_id"] == "117104"
    return tweets


def x_signature(consumer_secret: str, message: bytes) -> str:
    """How X signs a delivery (x-twitter-webhooks-signature) and answers a CRC: "sha256=" and the
    base64 HMAC-SHA256 with the app's consumer secret; written here apart from the code under
    test, and held to X's own known answers (../shared/data/x_signature_vectors.json)."""
    return "sha256=" + base64.b64encode(hmac.new(consumer_secret.encode(), message, hashlib.sha256).digest()).decode()


def test_the_story_signs_as_x_does():
    vectors = json.loads(shared_data("x_signature_vectors.json").read_text(encoding="utf-8"))
    for case in vectors["delivery"]:
        assert x_signature(case["consumer_secret"], case["body"].encode()) == case["signature"]
    for case in vectors["crc"]:
        assert x_signature(case["consumer_secret"], case["crc_token"].encode()) == case["response_token"]


def post_to_webhook(url: str, tweet: dict) -> dict:
    """An Account Activity delivery of one tweet, signed with the channel's consumer secret."""
    body = json.dumps(build_account_activity(BRAND_ID, [tweet]), ensure_ascii=False).encode()
    headers = {"x-twitter-webhooks-signature": x_signature(WEBHOOK_SECRET, body), "content-type": "application/json"}
    response = httpx.post(url, content=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_customer_is_answered_lands_in_french_writes_and_arrives_in_zendesk_exactly_once(
    live_server, chromium, manager, approver, smtp_settings, platform_secrets, fake_x, zendesk, celery_workers
):
    started = time.monotonic()
    thread = sample_thread()
    customer = thread[FIRST]["author_id"]
    channel = platform_channel("x", fake_x.base_url, name="Brand support on X")
    webhook = f"{live_server.url}/hooks/{channel.pk}/x"
    workers = {**FAST, "DUSK_PUBLIC_URL": live_server.url, ZENDESK_ENV: zendesk.credential}
    first = celery_workers("first", DUSK_HANDOFF_TIMEOUT="60", **workers)  # waits out the held request
    first.wait_ready()

    # Before the sunset: the customer's tweet (in French, as X tells) opens a conversation; no reply.
    answer = post_to_webhook(webhook, build_tweet(FIRST, thread[FIRST]["text"], customer, customer, lang="fr"))
    assert answer == {"stored": 1, "duplicates": 0, "replies_queued": 0}
    conversation = Conversation.objects.get(channel=channel)
    assert (conversation.state, conversation.locale) == (ConversationState.OPEN, "fr")

    # The hard close, approved by a second person, run by the worker at its instant.
    plan = hard_close_plan(
        manager=manager,
        channels=[channel],
        at=timezone.now() + timedelta(seconds=5),
        redirects=REDIRECTS,
        auto_replies=[reply for reply in REPLIES if reply.phase_kind == "hard_close"],
    )
    web_form = plan.redirects.get(kind="url")
    set_handoff_destination(
        actor=manager,
        plan=plan,
        position=web_form.position,
        kind="zendesk",
        url=zendesk.base_url,
        credential_env=ZENDESK_ENV,
    )
    submit_and_approve(plan, manager=manager, approver=approver)
    run = wait_for(
        lambda: CutoverRun.objects.filter(plan=plan, state=RunState.COMPLETED).first(),
        timeout=40,
        interval=0.3,
        message=f"the cutover to complete\n{first.log()[-3000:]}",
    )
    channel.refresh_from_db()
    conversation.refresh_from_db()
    assert channel.state == ChannelState.RETIRED
    # X keeps checking the retired channel's webhook (CRC); an unanswered check stops deliveries.
    token = str(uuid.uuid4())
    crc = httpx.get(webhook, params={"crc_token": token}, timeout=10)
    assert crc.status_code == 200
    assert crc.json() == {"response_token": x_signature(WEBHOOK_SECRET, token.encode())}
    assert (conversation.state, conversation.moved_by_run_id) == (ConversationState.REDIRECTED, run.pk)
    reference = conversation.reference
    (notice,) = fake_x.replies_to(FIRST)
    assert reference in notice["text"]

    # After the sunset: the customer answers the brand's tweet (in the corpus, 5831 answers 5832;
    # here the brand's tweet is the hand-off notice). Stored in the moved conversation, answered.
    time.sleep(2)  # the cooldown's "day" (FAST) passes
    follow_up = build_tweet(FOLLOW_UP, thread[FOLLOW_UP]["text"], customer, customer, in_reply_to=notice["id"])
    assert post_to_webhook(webhook, follow_up)["replies_queued"] == 1
    (auto_reply,) = wait_for(
        lambda: fake_x.replies_to(FOLLOW_UP),
        timeout=30,
        interval=0.2,
        message=f"the auto-reply to reach X\n{first.log()[-3000:]}",
    )
    assert Message.objects.get(platform_message_id=FOLLOW_UP).conversation_id == conversation.pk
    link = re.search(r"https?://\S+/r/DSK-[0-9A-Z]+", auto_reply["text"])
    assert link, auto_reply["text"]
    link = link.group(0)
    assert link == f"{live_server.url}/r/{reference}"

    # Zendesk will answer the first attempt with a 500, and hold the second open.
    zendesk.fail_next(500, path=zendesk.path)
    held = zendesk.hold_next(path=zendesk.path)

    # The customer, in Chromium asking for French, opens the link and writes.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    violations: list[str] = []
    elsewhere: list[str] = []
    context = chromium.new_context(extra_http_headers={"Accept-Language": "fr"}, viewport={"width": 420, "height": 900})
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("request", lambda r: None if r.url.startswith(live_server.url) else elsewhere.append(r.url))
    try:
        response = page.goto(link)
        assert response.status == 200
        assert response.headers["content-language"] == "fr"
        assert response.request.headers["accept-language"] == "fr"
        assert page.locator("html").get_attribute("lang") == "fr"
        assert page.locator("h1").inner_text() == "L’assistance sur X a déménagé."
        assert page.locator("#reference").inner_text() == reference
        page.screenshot(path=str(SCREENSHOTS / "story-landing-fr.png"), full_page=True)
        violations.extend(page.evaluate("window.__cspViolations || []"))
        page.get_by_label("Votre nom").fill("Client 117104")
        page.get_by_label("Votre adresse e-mail").fill("client117104@example.com")
        page.get_by_label("Votre message").fill("Mon iPhone 6 redémarre tout seul depuis iOS 11.1.")
        page.get_by_role("button", name="Envoyer").click()
        page.locator(".landing-sent").wait_for()
        assert reference in page.locator(".landing-sent").inner_text()
        page.screenshot(path=str(SCREENSHOTS / "story-landing-fr-sent.png"), full_page=True)
        violations.extend(page.evaluate("window.__cspViolations || []"))
    finally:
        context.close()
    assert not violations, violations
    assert not elsewhere, elsewhere
    request = HandoffRequest.objects.get()
    assert request.conversation_id == conversation.pk

    # The first attempt got its 500; the second is in Zendesk's hands when its worker dies.
    assert held.arrived.wait(30), f"the second attempt never reached Zendesk\n{first.log()[-3000:]}"
    delivery = HandoffDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("sending", 2, "Zendesk create ticket: HTTP 500")
    first.kill()
    held.release.set()  # Zendesk creates the ticket; its answer goes to a dead socket
    wait_for(lambda: zendesk.tickets, timeout=10, message="Zendesk to create the held ticket")
    delivery.refresh_from_db()
    assert delivery.state == "sending"  # nobody heard the answer

    second = celery_workers("second", DUSK_HANDOFF_TIMEOUT="1", DUSK_HANDOFF_STUCK_AFTER="3", **workers)
    delivery = wait_for(
        lambda: HandoffDelivery.objects.filter(state="sent").first(),
        timeout=40,
        interval=0.3,
        message=f"the second worker to settle the hand-off\n{second.log()[-3000:]}",
    )

    # Exactly one ticket: the reference as external_id, the customer's message and the transcript.
    (ticket,) = zendesk.tickets
    assert delivery.remote_id == str(ticket["id"])
    assert delivery.attempts == 3
    assert ticket["external_id"] == reference
    assert ticket["tags"] == ["dusk_handoff"]
    assert ticket["requester"] == {"name": "Client 117104", "email": "client117104@example.com"}
    assert reference in ticket["subject"]
    body = ticket["comment"]["body"]
    assert body.startswith("Mon iPhone 6 redémarre tout seul depuis iOS 11.1.")
    assert f"Customer: {thread[FIRST]['text']}" in body
    assert f"Customer: {thread[FOLLOW_UP]['text']}" in body
    assert f"Support: {notice['text']}" in body
    # What Zendesk received: two creations (a 500, then the one held), then the look-up by the
    # reference that found the ticket; never a third creation. Every request authenticated.
    basic = "Basic " + base64.b64encode(zendesk.credential.encode()).decode()
    assert [(r.method, r.path, r.param("external_id")) for r in zendesk.received] == [
        ("POST", "/api/v2/tickets.json", None),
        ("POST", "/api/v2/tickets.json", None),
        ("GET", "/api/v2/tickets.json", reference),
    ]
    assert {r.headers["authorization"] for r in zendesk.received} == {basic}
    assert zendesk.received[0].json() == zendesk.received[1].json()  # the same ticket, sent again
    assert set(zendesk.received[1].json()) == {"ticket"}
    assert set(zendesk.received[1].json()["ticket"]) == {"subject", "comment", "requester", "external_id", "tags"}

    # The manager reads the funnel: one customer landed, one arrived.
    assert [(s.key, s.count) for s in plan_funnel(plan.pk)] == [
        ("redirected", 1),
        ("notified", 1),
        ("landed", 1),
        ("chose", 1),
        ("arrived", 1),
        ("solved", 0),
    ]
    session = Session(chromium, live_server.url, "story-funnel")
    try:
        session.login(manager.username)
        funnel = session.goto(f"/plans/{plan.pk}/funnel/")
        rows = {
            row.locator("th").inner_text(): row.locator("td").first.inner_text()
            for row in funnel.locator("table.funnel tbody tr").all()
        }
        assert (rows["Landed (people)"], rows["Arrived"]) == ("1", "1"), rows
        session.shot("story-funnel")
    finally:
        session.close()
    assert not session.violations, session.violations
    assert OutboxMessage.objects.filter(state="sent").count() == 2  # the notice and the auto-reply
    assert fake_x.violations == [] and zendesk.violations == []
    print(f"customer story: {time.monotonic() - started:.1f} s")
