"""The signed webhooks, end to end through Django: verify, parse, store, 2xx after commit."""

import base64
import hashlib
import hmac
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import httpx
import pytest
from django.db import connection
from django.test import Client

from channels_app.directory.services import update_channel
from channels_app.models import ChannelState, Conversation, Message, OutboxMessage, OutboxState
from channels_app.platforms.adapters import x
from channels_app.platforms.adapters.base import sha256_b64_signature
from channels_app.platforms.services.outbox import send_due_replies
from channels_app.tests.support.fakeplatforms import build_tweet
from channels_app.tests.support.helpers import shared_data
from channels_app.tests.support.inbound_helpers import (
    BRAND_ID,
    WEBHOOK_SECRET,
    platform_channel,
    post_x,
    require_postgresql,
    signed_hex,
    signed_x_delivery,
    sunset,
)

pytestmark = pytest.mark.django_db


def _nothing_stored():
    return not (Message.objects.exists() or OutboxMessage.objects.exists() or Conversation.objects.exists())


# --- X --------------------------------------------------------------------------------------


def test_x_crc_reproduces_the_known_answer(client, monkeypatch):
    vectors = json.loads(shared_data("x_signature_vectors.json").read_text(encoding="utf-8"))
    channel = platform_channel("x")
    for case in vectors["crc"]:
        monkeypatch.setenv("DUSK_CHANNEL_TEST_WEBHOOK_SECRET", case["consumer_secret"])
        response = client.get(f"/hooks/{channel.pk}/x", {"crc_token": case["crc_token"]})
        assert response.status_code == 200
        assert response.json() == {"response_token": case["response_token"]}


def test_x_crc_keeps_answering_after_the_sunset_and_archive(client, retired_x):
    from django.utils import timezone

    retired_x.archived_at = timezone.now()
    retired_x.save()
    response = client.get(f"/hooks/{retired_x.pk}/x", {"crc_token": "abc"})
    assert response.status_code == 200
    assert response.json()["response_token"] == x.crc_response(WEBHOOK_SECRET, "abc")


def test_x_crc_without_a_token_is_a_clear_400(client, platform_secrets):
    channel = platform_channel("x")
    response = client.get(f"/hooks/{channel.pk}/x")
    assert response.status_code == 400
    assert response.json() == {"error": "Missing crc_token."}


def test_x_delivery_vectors_pass_the_signature_check(client, monkeypatch):
    vectors = json.loads(shared_data("x_signature_vectors.json").read_text(encoding="utf-8"))
    channel = platform_channel("x", platform_account_id="")
    for case in vectors["delivery"]:
        monkeypatch.setenv("DUSK_CHANNEL_TEST_WEBHOOK_SECRET", case["consumer_secret"])
        headers = {"x-twitter-webhooks-signature": case["signature"]}
        response = client.post(f"/hooks/{channel.pk}/x", case["body"], content_type="text/plain", headers=headers)
        # Signed right: past the check (the form-encoded vector is then refused as not JSON).
        assert response.status_code in (200, 400), response.content
        assert "Signature" not in response.json().get("error", "")
        tampered = client.post(f"/hooks/{channel.pk}/x", case["body"] + " ", content_type="text/plain", headers=headers)
        assert tampered.status_code == 403


def test_x_delivery_after_the_sunset_is_stored_with_its_reply(client, retired_x):
    tweet = build_tweet("1001", "@brand where is my parcel?", "42", "ana_p", name="Ana")
    response = post_x(Client(enforce_csrf_checks=True), retired_x, [tweet])  # no CSRF token needed
    assert response.status_code == 200
    assert response.json() == {"stored": 1, "duplicates": 0, "replies_queued": 1}
    message = Message.objects.get()
    assert (message.platform_message_id, message.text, message.lang) == ("1001", "@brand where is my parcel?", "en")
    assert OutboxMessage.objects.get().in_reply_to == message
    # The same delivery again (X retries) stores nothing more.
    again = post_x(client, retired_x, [tweet])
    assert again.json() == {"stored": 0, "duplicates": 1, "replies_queued": 0}
    assert Message.objects.count() == 1 and OutboxMessage.objects.count() == 1


def test_x_own_tweets_and_retweets_are_not_stored(client, retired_x):
    own = build_tweet("2001", "@ana sorry!", BRAND_ID, "brand")
    retweet = {**build_tweet("2002", "RT @brand: news", "43", "bob"), "retweeted_status": {"id_str": "5"}}
    response = post_x(client, retired_x, [own, retweet])
    assert response.json() == {"stored": 0, "duplicates": 0, "replies_queued": 0}
    assert _nothing_stored()


@pytest.mark.parametrize(
    "how", ["missing", "wrong secret", "tampered body", "hex instead of base64", "signature of another body"]
)
def test_x_bad_or_missing_signature_is_refused_and_nothing_stored(client, retired_x, how):
    body, headers = signed_x_delivery([build_tweet("1001", "hello", "42", "ana")])
    name = "x-twitter-webhooks-signature"
    if how == "missing":
        headers = {}
    elif how == "wrong secret":
        digest = hmac.new(b"not-the-secret", body, hashlib.sha256).digest()
        headers = {name: "sha256=" + base64.b64encode(digest).decode()}
    elif how == "tampered body":
        body = body.replace(b"hello", b"hellO")
    elif how == "hex instead of base64":
        headers = signed_hex(body, name)
    else:
        headers = signed_x_delivery([build_tweet("1002", "other", "42", "ana")])[1]
    response = client.post(f"/hooks/{retired_x.pk}/x", body, content_type="application/json", headers=headers)
    assert response.status_code == 403
    assert response.json()["error"].startswith("Signature check failed")
    assert _nothing_stored()


def test_x_without_a_configured_secret_answers_503_and_stores_nothing(client, monkeypatch, retired_x):
    monkeypatch.delenv("DUSK_CHANNEL_TEST_WEBHOOK_SECRET")
    response = post_x(client, retired_x, [build_tweet("1001", "hello", "42", "ana")])
    assert response.status_code == 503
    assert "not configured" in response.json()["error"]
    assert "DUSK_CHANNEL" not in response.json()["error"]  # the variable is the operator's business
    assert client.get(f"/hooks/{retired_x.pk}/x", {"crc_token": "a"}).status_code == 503
    assert _nothing_stored()


def test_unknown_channel_or_wrong_kind_is_404(client, platform_secrets):
    forum = platform_channel("discourse")
    assert post_x(client, forum, [build_tweet("1", "hi", "42", "a")]).status_code == 404
    response = client.get("/hooks/999999/x", {"crc_token": "a"})
    assert response.status_code == 404
    assert response.json() == {"error": "No X channel with id 999999."}


def test_other_methods_are_not_allowed(client, retired_x):
    assert client.put(f"/hooks/{retired_x.pk}/x").status_code == 405
    assert client.get(f"/hooks/{retired_x.pk}/discourse").status_code == 405


def test_a_delivery_for_another_account_is_refused(client, retired_x):
    response = post_x(client, retired_x, [build_tweet("1001", "hi", "42", "ana")], for_user_id="999")
    assert response.status_code == 400
    assert "for account 999" in response.json()["error"]
    assert _nothing_stored()


def test_malformed_json_and_events_are_refused_and_nothing_stored(client, retired_x):
    body = b"{not json"
    headers = {"x-twitter-webhooks-signature": sha256_b64_signature(WEBHOOK_SECRET, body)}
    response = client.post(f"/hooks/{retired_x.pk}/x", body, content_type="application/json", headers=headers)
    assert response.status_code == 400 and "not JSON" in response.json()["error"]
    broken = build_tweet("1001", "hi", "42", "ana")
    del broken["id_str"]
    good = build_tweet("1002", "hi", "43", "bob")
    response = post_x(client, retired_x, [good, broken])
    assert response.status_code == 400
    assert "Malformed event" in response.json()["error"]
    assert _nothing_stored()


def test_an_overlong_id_is_refused_with_the_reason(client, retired_x):
    tweet = build_tweet("1001", "hi", "42", "ana")
    tweet["id_str"] = "9" * 200
    response = post_x(client, retired_x, [tweet])
    assert response.status_code == 400
    assert "platform_message_id is longer than 128" in response.json()["error"]
    assert _nothing_stored()


# --- Discourse --------------------------------------------------------------------------------


def _discourse_post(post_id=345, username="jo", **extra):
    return {
        "post": {
            "id": post_id,
            "name": "Jo Bloggs",
            "username": username,
            "user_id": 77,
            "created_at": "2026-09-30T22:15:03.512Z",
            "raw": "Is the forum closing?",
            "post_number": 4,
            "post_type": 1,
            "topic_id": 12,
            **extra,
        }
    }


def _post_discourse(client, channel, payload, event="post_created", headers=None):
    body = json.dumps(payload).encode()
    headers = {**signed_hex(body, "X-Discourse-Event-Signature"), "X-Discourse-Event": event, **(headers or {})}
    return client.post(f"/hooks/{channel.pk}/discourse", body, content_type="application/json", headers=headers)


def test_discourse_ping_is_answered_and_stores_nothing(client, platform_secrets):
    forum = platform_channel("discourse")
    response = _post_discourse(client, forum, {"ping": "OK"}, event="ping")
    assert response.status_code == 200 and response.json() == {"ok": True, "event": "ping"}
    assert _nothing_stored()


def test_discourse_post_created_is_stored_with_its_post_number(client, manager, approver, platform_secrets):
    forum = platform_channel("discourse")
    sunset(manager=manager, approver=approver, channels=[forum])
    response = _post_discourse(client, forum, _discourse_post())
    assert response.json() == {"stored": 1, "duplicates": 0, "replies_queued": 1}
    message = Message.objects.get()
    assert (message.platform_message_id, message.conversation.platform_thread_id) == ("345", "12")
    assert message.meta == {"name": "Jo Bloggs", "post_number": 4}
    # Our own bot's post coming back is not stored.
    assert _post_discourse(client, forum, _discourse_post(346, username="Dusk-Bot")).json()["stored"] == 0


def test_discourse_bad_signature_is_refused(client, platform_secrets):
    forum = platform_channel("discourse")
    response = _post_discourse(client, forum, _discourse_post(), headers={"X-Discourse-Event-Signature": "sha256=00"})
    assert response.status_code == 403
    assert _nothing_stored()


# --- Messenger --------------------------------------------------------------------------------


def test_messenger_subscription_challenge(client, platform_secrets):
    page = platform_channel("messenger")
    params = {"hub.mode": "subscribe", "hub.verify_token": "verify-token-for-tests", "hub.challenge": "1158201444"}
    response = client.get(f"/hooks/{page.pk}/messenger", params)
    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")
    wrong = client.get(f"/hooks/{page.pk}/messenger", {**params, "hub.verify_token": "guess"})
    assert wrong.status_code == 403


def test_messenger_without_a_verify_token_configured_is_503(client, monkeypatch, platform_secrets):
    monkeypatch.delenv("DUSK_CHANNEL_TEST_WEBHOOK_SECRET_VERIFY_TOKEN")
    page = platform_channel("messenger")
    response = client.get(f"/hooks/{page.pk}/messenger", {"hub.mode": "subscribe", "hub.challenge": "1"})
    assert response.status_code == 503
    assert "not configured" in response.json()["error"]
    assert "VERIFY_TOKEN" not in response.json()["error"]


def _messenger_payload(mid="m_1", sender="PSID1", echo=False):
    message = {"mid": mid, "text": "Bonjour, vous êtes là ?"}
    if echo:
        message["is_echo"] = True
    event = {"sender": {"id": sender}, "recipient": {"id": "page-1"}, "timestamp": 1790000000000, "message": message}
    return {"object": "page", "entry": [{"id": "page-1", "time": 1790000000000, "messaging": [event]}]}


def test_messenger_messages_are_stored_and_echoes_ignored(client, manager, approver, platform_secrets):
    page = platform_channel("messenger")
    sunset(manager=manager, approver=approver, channels=[page])
    for payload in (_messenger_payload(), _messenger_payload("m_2", echo=True)):
        body = json.dumps(payload).encode()
        response = client.post(
            f"/hooks/{page.pk}/messenger",
            body,
            content_type="application/json",
            headers=signed_hex(body, "X-Hub-Signature-256"),
        )
        assert response.status_code == 200
    message = Message.objects.get()
    assert (message.platform_message_id, message.author_id) == ("m_1", "PSID1")
    assert OutboxMessage.objects.count() == 1


def test_messenger_unsigned_post_is_refused(client, platform_secrets):
    page = platform_channel("messenger")
    response = client.post(f"/hooks/{page.pk}/messenger", _messenger_payload(), content_type="application/json")
    assert response.status_code == 403
    assert _nothing_stored()


# --- Email (inbound parse) ------------------------------------------------------------------------


def _postmark(message_id="abc@mail.example.com", **extra):
    return {
        "FromFull": {"Email": "ana@example.com", "Name": "Ana"},
        "From": "ana@example.com",
        "Subject": "Ayuda",
        "TextBody": "Hola, necesito ayuda con mi pedido",
        "Date": "Thu, 1 Oct 2026 10:00:00 +0000",
        "Headers": [{"Name": "Message-ID", "Value": message_id}],
        **extra,
    }


def _basic(password):
    return {"Authorization": "Basic " + base64.b64encode(f"inbound:{password}".encode()).decode()}


def test_email_with_basic_auth_is_stored(client, manager, approver, platform_secrets):
    mailbox = platform_channel("email")
    sunset(manager=manager, approver=approver, channels=[mailbox])
    response = client.post(
        f"/hooks/{mailbox.pk}/email", _postmark(), content_type="application/json", headers=_basic(WEBHOOK_SECRET)
    )
    assert response.status_code == 200, response.content
    message = Message.objects.get()
    assert (message.platform_message_id, message.author_id) == ("<abc@mail.example.com>", "ana@example.com")
    assert message.meta["subject"] == "Ayuda"
    assert OutboxMessage.objects.count() == 1


def test_email_with_a_wrong_password_or_no_credentials_is_refused(client, platform_secrets):
    mailbox = platform_channel("email")
    url = f"/hooks/{mailbox.pk}/email"
    assert client.post(url, _postmark(), content_type="application/json", headers=_basic("guess")).status_code == 403
    response = client.post(url, _postmark(), content_type="application/json")
    assert response.status_code == 403
    assert "missing credentials" in response.json()["error"]
    assert _nothing_stored()


def _mailgun_fields(timestamp=None, secret=WEBHOOK_SECRET):
    timestamp = str(int(timestamp if timestamp is not None else time.time()))
    token = "f" * 50
    signature = hmac.new(secret.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {
        "sender": "jan@example.org",
        "from": "Jan <jan@example.org>",
        "subject": "Vraag",
        "body-plain": "Waar is mijn pakket?",
        "Message-Id": "<mg-1@example.org>",
        "timestamp": timestamp,
        "token": token,
        "signature": signature,
    }


def test_email_with_a_mailgun_signature_is_stored_and_a_stale_one_refused(client, platform_secrets):
    mailbox = platform_channel("email")
    url = f"/hooks/{mailbox.pk}/email"
    stale = client.post(
        url, urlencode(_mailgun_fields(time.time() - 3600)), content_type="application/x-www-form-urlencoded"
    )
    assert stale.status_code == 403
    assert "replay" in stale.json()["error"]
    forged = client.post(url, _mailgun_fields(secret="other"))  # multipart, as Mailgun posts
    assert forged.status_code == 403
    assert _nothing_stored()
    response = client.post(url, _mailgun_fields())
    assert response.status_code == 200, response.content
    assert Message.objects.get().platform_message_id == "<mg-1@example.org>"


# --- concurrency over a real server -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_tweet_store_one_message_and_send_one_reply(
    live_server, release_pooled_connections, manager, approver, platform_secrets, fake_x
):
    require_postgresql()
    channel = platform_channel("x", fake_x.base_url)
    sunset(manager=manager, approver=approver, channels=[channel])
    body, headers = signed_x_delivery([build_tweet("1001", "@brand hello?", "42", "ana")])
    url = f"{live_server.url}/hooks/{channel.pk}/x"
    n = 12
    barrier = threading.Barrier(n)

    def deliver(_):
        with httpx.Client(timeout=30) as http:
            barrier.wait()  # all at once: the inserts race inside PostgreSQL
            return http.post(url, content=body, headers={**headers, "content-type": "application/json"})

    with ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(deliver, range(n)))
    assert [a.status_code for a in answers] == [200] * n
    assert sum(a.json()["stored"] for a in answers) == 1
    assert sum(a.json()["duplicates"] for a in answers) == n - 1
    assert Message.objects.count() == 1
    assert OutboxMessage.objects.count() == 1
    # And deliveries of the same tweet inside different batches, concurrently too.
    other = [build_tweet("1002", "again", "43", "bob"), build_tweet("1001", "@brand hello?", "42", "ana")]
    body, headers = signed_x_delivery(other)
    barrier = threading.Barrier(n)
    with ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(deliver, range(n)))
    assert sum(a.json()["stored"] for a in answers) == 1  # only 1002 is new

    # Two threads sending at once send each reply once.
    def drain(_):
        try:
            return send_due_replies(worker_id="t")
        finally:
            connection.close()  # give the thread's connection back to the pool

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(drain, range(2)))
    assert sum(r.sent for r in reports) == 2
    assert sorted(t["in_reply_to"] for t in fake_x.tweets) == ["1001", "1002"]
    assert set(OutboxMessage.objects.values_list("state", flat=True)) == {OutboxState.SENT}
    assert channel.state == ChannelState.RETIRED


def test_the_webhook_loads_only_what_it_needs_of_the_channel_and_loads_it_right(platform_secrets):
    from channels_app.platforms.selectors import webhook_channel

    channel = platform_channel("x", platform_account_id="42", webhook_secret_env="DUSK_CHANNEL_TEST_WEBHOOK_SECRET")
    found = webhook_channel(channel.pk, "x")
    assert (found.pk, found.kind, found.name, found.webhook_secret_env, found.platform_account_id) == (
        channel.pk,
        "x",
        channel.name,
        "DUSK_CHANNEL_TEST_WEBHOOK_SECRET",
        "42",
    )
    assert found.handle == channel.handle  # deferred, loaded on demand
    assert webhook_channel(channel.pk, "discourse") is None


def test_a_channel_changed_in_this_process_is_never_served_stale(client, manager, platform_secrets, monkeypatch):
    channel = platform_channel("x")
    assert client.get(f"/hooks/{channel.pk}/x", {"crc_token": "t"}).json()["response_token"] == x.crc_response(
        WEBHOOK_SECRET, "t"
    )
    monkeypatch.setenv("DUSK_CHANNEL_TEST_ROTATED_SECRET", "rotated")
    update_channel(actor=manager, channel=channel, webhook_secret_env="DUSK_CHANNEL_TEST_ROTATED_SECRET")
    response = client.get(f"/hooks/{channel.pk}/x", {"crc_token": "t"})
    assert response.json()["response_token"] == x.crc_response("rotated", "t")
