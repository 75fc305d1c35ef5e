"""Platform adapters against real HTTP/SMTP fakes on 127.0.0.1 (no mocks of httpx)."""

from __future__ import annotations

import csv
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from channels_app.platforms.adapters import discourse, messenger, x, youtube
from channels_app.platforms.adapters import email as email_adapter
from channels_app.platforms.adapters.base import (
    InboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendResult,
    SignatureError,
    parse_retry_after,
    sha256_b64_signature,
    sha256_hex_signature,
)
from channels_app.tests.support.fakeplatforms import (
    FakeX,
    build_account_activity,
    build_tweet,
    free_port,
    google_error,
    graph_error,
    x_created_at,
)
from channels_app.tests.support.helpers import shared_data

BRAND_ID = "783214"


def _shared(name: str) -> Path:
    return shared_data(name)


# ================================================================================================
# base helpers
# ================================================================================================


def test_retry_after_seconds_date_and_reset():
    now = 1_700_000_000.0
    assert parse_retry_after({"retry-after": "7"}, now) == 7.0
    assert parse_retry_after({"retry-after": "1.5"}, now) == 1.5
    when = datetime.fromtimestamp(now + 120, tz=UTC)
    assert parse_retry_after({"retry-after": format_datetime(when, usegmt=True)}, now) == pytest.approx(120)
    assert parse_retry_after({"retry-after": format_datetime(when - timedelta(hours=1), usegmt=True)}, now) == 0.0
    assert parse_retry_after({"x-rate-limit-reset": str(int(now) + 30)}, now) == 30.0
    assert parse_retry_after({"retry-after": "garbage"}, now) is None
    assert parse_retry_after({}, now) is None


def test_send_errors_convert_to_results():
    retry = RetryableSendError(3.0, "slow down", 429)
    assert retry.result == SendResult("", 429, 3.0, False, "slow down")
    assert PermanentSendError("nope", 400).result.permanent is True


def test_adapters_have_no_orm_imports():
    folder = Path(x.__file__).parent
    for module in folder.glob("*.py"):
        source = module.read_text(encoding="utf-8")
        assert "from django" not in source and "import django" not in source, module.name


# ================================================================================================
# X
# ================================================================================================


def test_x_known_answer_vectors():
    vectors = json.loads(_shared("x_signature_vectors.json").read_text(encoding="utf-8"))
    assert vectors["crc"] and vectors["delivery"]
    for case in vectors["crc"]:
        assert x.crc_response(case["consumer_secret"], case["crc_token"]) == case["response_token"]
    for case in vectors["delivery"]:
        x.verify_signature(case["consumer_secret"], case["body"].encode("utf-8"), case["signature"])
        assert sha256_b64_signature(case["consumer_secret"], case["body"].encode()) == case["signature"]


@pytest.mark.parametrize("header", [None, "", "sha256=", "sha256=AAAA", "25Cu3iwbbiqBTwQRzcKJZwisjf736V2Q8UaTlkfLSoc="])
def test_x_bad_or_missing_signature(header):
    with pytest.raises(SignatureError):
        x.verify_signature("test", b"test=1&other_test=2", header)


def test_x_signature_covers_the_exact_bytes():
    body = b'{"a":1}'
    good = sha256_b64_signature("secret", body)
    x.verify_signature("secret", body, good)
    with pytest.raises(SignatureError):
        x.verify_signature("secret", b'{"a": 1}', good)
    with pytest.raises(SignatureError):
        x.verify_signature("other", body, good)


def test_x_parse_events_skips_own_tweets_and_retweets():
    customer = build_tweet(
        "1001",
        "@brand my order is late",
        "42",
        "ana_p",
        name="Ana Pérez",
        in_reply_to="999",
        lang="es",
        created_at="Wed Oct 10 20:19:24 +0000 2018",
    )
    own = build_tweet("1002", "@ana_p sorry!", BRAND_ID, "brand", in_reply_to="1001")
    retweet = {**build_tweet("1003", "RT @brand: news", "43", "bob"), "retweeted_status": {"id_str": "5"}}
    messages = x.parse_events(build_account_activity(BRAND_ID, [customer, own, retweet]))
    assert len(messages) == 1
    (msg,) = messages
    assert msg == InboundMessage(
        platform_message_id="1001",
        thread_id="999",
        customer_id="42",
        customer_handle="ana_p",
        customer_name="Ana Pérez",
        text="@brand my order is late",
        lang="es",
        created_at=datetime(2018, 10, 10, 20, 19, 24, tzinfo=UTC),
        in_reply_to="999",
    )
    assert msg.created_at.utcoffset() == timedelta(0)
    assert msg.raw["id_str"] == "1001"


@pytest.mark.parametrize(
    "created_at",
    [
        "Wed Oct 10 20:19:24 +0000 2018",
        "Mon Jan 01 00:00:00 +0000 2024",
        "Thu Feb 29 23:59:59 +0000 2024",
        "Wed Oct 10 22:19:24 +0200 2018",  # not X's UTC form: strptime reads it
        "Wed Oct 1 20:19:24 +0000 2018",
    ],
)
def test_x_created_at_reads_what_strptime_reads(created_at):
    (msg,) = x.parse_events(
        build_account_activity(BRAND_ID, [build_tweet("1", "hi", "42", "ana", created_at=created_at)])
    )
    assert msg.created_at == datetime.strptime(created_at, "%a %b %d %H:%M:%S %z %Y")
    assert msg.created_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "created_at", ["Wed Feb 30 20:19:24 +0000 2018", "Wed Oct 10 24:00:00 +0000 2018", "yesterday"]
)
def test_x_created_at_that_is_no_date_is_a_value_error(created_at):
    with pytest.raises(ValueError):
        x.parse_events(build_account_activity(BRAND_ID, [build_tweet("1", "hi", "42", "ana", created_at=created_at)]))


def test_x_parse_events_extended_tweet_und_lang_and_timestamp_ms():
    tweet = build_tweet("2001", "truncated…", "42", "ana", lang="und")
    tweet["truncated"] = True
    tweet["extended_tweet"] = {"full_text": "the whole long text\nwith a second line"}
    tweet["timestamp_ms"] = "1539202764000"
    (msg,) = x.parse_events(build_account_activity(BRAND_ID, [tweet]))
    assert msg.text == "the whole long text\nwith a second line"
    assert msg.lang is None
    assert msg.thread_id == "2001"  # a new conversation starts at itself
    assert msg.in_reply_to is None
    assert msg.created_at == datetime.fromtimestamp(1539202764, tz=UTC)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "en"),
        ("pt-BR", "pt"),
        ("in", "id"),
        ("iw", "he"),
        ("qu", "qu"),
        ("qme", None),
        ("und", None),
        (None, None),
    ],
)
def test_x_lang_field(lang, expected):
    (msg,) = x.parse_events(build_account_activity(BRAND_ID, [build_tweet("1", "t", "42", "a", lang=lang)]))
    assert msg.lang == expected


def test_x_parse_events_other_event_types_give_nothing():
    assert x.parse_events({"for_user_id": BRAND_ID, "favorite_events": [{"id": "1"}]}) == []
    assert x.parse_events({}) == []


def _twcs_numeric_id(author: str) -> str:
    # Customers are already anonymised numbers; brands get a stable made-up numeric id.
    return author if author.isdigit() else str(int(hashlib.sha256(author.encode()).hexdigest()[:12], 16))


def test_x_replay_twcs_sample_through_signed_payloads():
    path = _shared("twcs_sample.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    brand = "sprintcare"
    brand_id = _twcs_numeric_id(brand)
    secret = "consumer-secret-for-replay"
    parsed: list[InboundMessage] = []
    for start in range(0, len(rows), 250):  # deliveries batch several events
        chunk = rows[start : start + 250]
        tweets = []
        for row in chunk:
            reply_to = row["in_response_to_tweet_id"]
            tweets.append(
                build_tweet(
                    row["tweet_id"],
                    row["text"],
                    _twcs_numeric_id(row["author_id"]),
                    row["author_id"],
                    created_at=row["created_at"],
                    in_reply_to=str(int(float(reply_to))) if reply_to else None,
                )
            )
        raw_body = json.dumps(build_account_activity(brand_id, tweets), ensure_ascii=False).encode("utf-8")
        x.verify_signature(secret, raw_body, sha256_b64_signature(secret, raw_body))
        parsed.extend(x.parse_events(json.loads(raw_body)))

    expected = [row for row in rows if row["author_id"] != brand]
    assert [m.platform_message_id for m in parsed] == [row["tweet_id"] for row in expected]
    assert [m.text for m in parsed] == [row["text"] for row in expected]
    assert [m.customer_handle for m in parsed] == [row["author_id"] for row in expected]
    multi_line = [m for m in parsed if "\n" in m.text]
    non_ascii = [m for m in parsed if not m.text.isascii()]
    assert multi_line and non_ascii  # the sample exercises both, and they survive intact
    for message, row in zip(parsed, expected, strict=True):
        assert message.created_at == datetime.strptime(row["created_at"], "%a %b %d %H:%M:%S %z %Y")
        assert message.created_at.tzinfo is not None and message.created_at.utcoffset() == timedelta(0)
        reply_to = row["in_response_to_tweet_id"]
        assert message.in_reply_to == (str(int(float(reply_to))) if reply_to else None)


def test_x_send_reply(fake_x, http_client):
    result = x.send_reply(http_client, fake_x.base_url, fake_x.bearer_token, "Hi Ana, see https://example.com", "1001")
    assert result.status_code == 201
    assert result.platform_id == fake_x.tweets[0]["id"]
    assert fake_x.tweets[0]["in_reply_to"] == "1001"
    (request,) = fake_x.received
    assert request.json() == {"text": "Hi Ana, see https://example.com", "reply": {"in_reply_to_tweet_id": "1001"}}
    assert fake_x.violations == []


def test_x_dm_conversation_ids_are_the_two_user_ids_smaller_first():
    assert x.dm_conversation_id("3001969357", "783214") == "783214-3001969357"
    assert x.dm_conversation_id("783214", "3001969357") == "783214-3001969357"
    assert x.is_dm_thread("783214-3001969357")
    assert not x.is_dm_thread("1850000000000000001") and not x.is_dm_thread("conv-a")
    assert x.PLATFORM.length_rule("783214-3001969357") == "x_dm"
    assert x.PLATFORM.length_rule("1850000000000000001") == "x"


def test_x_is_customer_is_anyone_but_the_brand():
    assert x.is_customer("3001969357", "783214")
    assert not x.is_customer("783214", "783214")
    assert not x.is_customer("", "783214")


def test_x_send_and_find_a_direct_message(fake_x, http_client):
    since = datetime.now(UTC) - timedelta(seconds=5)
    text = "Bonjour Zoë 👋 " + "é" * 400  # over a tweet's 280, well within a DM's 10,000
    result = x.send_direct_message(http_client, fake_x.base_url, fake_x.bearer_token, "3001969357", text)
    assert result.status_code == 201 and result.platform_id == fake_x.dms[0]["id"]
    assert fake_x.received[0].path == "/2/dm_conversations/with/3001969357/messages"
    assert fake_x.received[0].json() == {"text": text}
    found = x.find_direct_message(
        http_client, fake_x.base_url, fake_x.bearer_token, "3001969357", text, since, author_id=fake_x.account_id
    )
    assert found == result.platform_id
    # Another text, or nothing since: not ours.
    assert (
        x.find_direct_message(http_client, fake_x.base_url, fake_x.bearer_token, "3001969357", "other", since) is None
    )
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert x.find_direct_message(http_client, fake_x.base_url, fake_x.bearer_token, "3001969357", text, later) is None
    assert fake_x.violations == []


def test_x_send_reply_unicode_text_arrives_intact(fake_x, http_client):
    text = "Bonjour Zoë 👋\nNous avons déménagé : https://aide.example.fr — 日本語も"
    x.send_reply(http_client, fake_x.base_url, fake_x.bearer_token, text, "1001")
    assert fake_x.tweets[0]["text"] == text


def test_x_fake_flags_bad_requests(fake_x, http_client):
    with pytest.raises(PermanentSendError):  # the fake still answers, but records why it is wrong
        fake_x.fail_next(401)
        x.send_reply(http_client, fake_x.base_url, "wrong-token", "a" * 300, "not-a-number")
    assert len(fake_x.violations) == 3
    assert any("Authorization" in v for v in fake_x.violations)
    assert any("300 weighted" in v for v in fake_x.violations)
    assert any("in_reply_to_tweet_id" in v for v in fake_x.violations)
    fake_x.violations.clear()


def test_x_429_retry_after_seconds(fake_x, http_client):
    fake_x.rate_limit_next("7")
    with pytest.raises(RetryableSendError) as caught:
        x.send_reply(http_client, fake_x.base_url, fake_x.bearer_token, "hello", "1")
    assert caught.value.retry_after == 7.0
    assert caught.value.status_code == 429
    assert caught.value.result.permanent is False
    # The next call goes through: the scripted answer was used once.
    assert x.send_reply(http_client, fake_x.base_url, fake_x.bearer_token, "hello", "1").status_code == 201


def test_x_429_retry_after_http_date(fake_x, http_client):
    when = datetime.now(UTC) + timedelta(seconds=90)
    fake_x.fail_next(429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    with pytest.raises(RetryableSendError) as caught:
        x.send_reply(http_client, fake_x.base_url, fake_x.bearer_token, "hello", "1")
    assert 80 <= caught.value.retry_after <= 91


def test_x_429_rate_limit_reset_header(fake_x, http_client):
    fake_x.fail_next(429, headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(time.time()) + 60)})
    with pytest.raises(RetryableSendError) as caught:
        x.send_reply(http_client, fake_x.base_url, fake_x.bearer_token, "hello", "1")
    assert 55 <= caught.value.retry_after <= 61


@pytest.mark.parametrize("status", [500, 502, 503])
def test_x_5xx_is_retryable(fake_x, http_client, status):
    fake_x.fail_next(status)
    with pytest.raises(RetryableSendError) as caught:
        x.send_reply(http_client, fake_x.base_url, fake_x.bearer_token, "hello", "1")
    assert caught.value.status_code == status
    assert caught.value.retry_after is None


@pytest.mark.parametrize("status", [400, 403, 404])
def test_x_4xx_is_permanent(fake_x, http_client, status):
    fake_x.fail_next(status, body={"detail": "You are not allowed to create a Tweet with duplicate content."})
    with pytest.raises(PermanentSendError) as caught:
        x.send_reply(http_client, fake_x.base_url, fake_x.bearer_token, "hello", "1")
    assert caught.value.status_code == status
    assert "duplicate" in caught.value.error


def test_x_201_without_id_is_permanent(fake_x, http_client):
    fake_x.fail_next(201, body={"data": {}})
    with pytest.raises(PermanentSendError):
        x.send_reply(http_client, fake_x.base_url, fake_x.bearer_token, "hello", "1")


def test_x_timeout_is_retryable(fake_x, http_client):
    fake_x.fail_next(201, body={"data": {"id": "1"}}, delay=1.0)
    with pytest.raises(RetryableSendError) as caught:
        x.send_reply(http_client, fake_x.base_url, fake_x.bearer_token, "hello", "1", timeout=0.2)
    assert "timeout" in caught.value.error


def test_x_connection_refused_is_retryable(http_client):
    with pytest.raises(RetryableSendError):
        x.send_reply(http_client, f"http://127.0.0.1:{free_port()}", "token", "hello", "1")


def test_x_base_url_with_trailing_slash(fake_x, http_client):
    x.send_reply(http_client, fake_x.base_url + "/", fake_x.bearer_token, "hello", "1")
    assert fake_x.received[0].path == "/2/tweets"


def test_fake_x_as_plain_context_manager(http_client):
    with FakeX(bearer_token="abc") as fake:
        x.send_reply(http_client, fake.base_url, "abc", "hello", "12")
        assert fake.violations == []
        url = fake.base_url
    with pytest.raises(RetryableSendError):  # stopped: nothing listens any more
        x.send_reply(http_client, url, "abc", "hello", "12")


# ================================================================================================
# Discourse
# ================================================================================================


def _discourse_post(**overrides):
    post = {
        "id": 345,
        "name": "Jo Bloggs",
        "username": "jo",
        "user_id": 77,
        "created_at": "2026-09-30T22:15:03.512Z",
        "cooked": "<p>Is the <strong>forum</strong> closing?</p>",
        "raw": "Is the **forum** closing?\nAsking for a friend. Ça va ?",
        "post_number": 4,
        "post_type": 1,
        "topic_id": 12,
        "reply_to_post_number": 2,
    }
    post.update(overrides)
    return post


def test_discourse_signature():
    body = json.dumps({"post": _discourse_post()}).encode()
    header = sha256_hex_signature("hook-secret", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    discourse.verify_signature("hook-secret", body, header)
    for bad in (None, "", header.upper(), sha256_hex_signature("other", body), header[:-1] + "0"):
        if bad == header:
            continue
        with pytest.raises(SignatureError):
            discourse.verify_signature("hook-secret", body, bad)


def test_discourse_ping_and_other_events_give_nothing():
    assert discourse.parse_event("ping", {"ping": "OK"}) == []
    assert discourse.parse_event("topic_created", {"topic": {"id": 1}}) == []
    assert discourse.parse_event(None, {}) == []


def test_discourse_post_created():
    (msg,) = discourse.parse_event("post_created", {"post": _discourse_post()})
    assert msg.platform_message_id == "345"
    assert msg.thread_id == "12"
    assert msg.customer_id == "77"
    assert msg.customer_handle == "jo"
    assert msg.customer_name == "Jo Bloggs"
    assert msg.text == "Is the **forum** closing?\nAsking for a friend. Ça va ?"
    assert msg.created_at == datetime(2026, 9, 30, 22, 15, 3, 512000, tzinfo=UTC)
    assert msg.lang is None
    assert msg.raw["post_number"] == 4


def test_discourse_falls_back_to_cooked_html():
    post = _discourse_post()
    del post["raw"]
    (msg,) = discourse.parse_event("post_created", {"post": post})
    assert msg.text == "Is the forum closing?"


def test_discourse_skips_whispers_small_actions_and_own_posts():
    assert discourse.parse_event("post_created", {"post": _discourse_post(post_type=4)}) == []
    assert discourse.parse_event("post_created", {"post": _discourse_post(post_type=3)}) == []
    assert discourse.parse_event("post_created", {"post": _discourse_post(username="Dusk-Bot")}, "dusk-bot") == []


@pytest.mark.parametrize(
    ("fields", "customer"),
    [
        ({}, True),
        ({"topic_archetype": "private_message"}, True),
        ({"staff": True}, False),
        ({"moderator": True, "staff": True}, False),
        ({"admin": True, "staff": True}, False),
        ({"username": "Dusk-Bot"}, False),
        ({"post_type": 4}, False),
    ],
)
def test_discourse_is_customer(fields, customer):
    post = {"username": "jo", "post_type": 1, "staff": False, "moderator": False, "admin": False, **fields}
    assert discourse.is_customer(post, "dusk-bot") is customer


def test_discourse_send_reply(fake_discourse, http_client):
    result = discourse.send_reply(
        http_client,
        fake_discourse.base_url,
        fake_discourse.api_key,
        fake_discourse.api_username,
        "12",
        "This forum closes on 1 October. Please use https://help.example.com",
        reply_to_post_number=4,
    )
    assert result.platform_id == str(fake_discourse.posts[0]["id"])
    assert fake_discourse.received[0].json() == {
        "topic_id": 12,
        "raw": "This forum closes on 1 October. Please use https://help.example.com",
        "reply_to_post_number": 4,
    }


def test_discourse_send_without_reply_to(fake_discourse, http_client):
    discourse.send_reply(http_client, fake_discourse.base_url, "discourse-key", "dusk-bot", 12, "hello")
    assert "reply_to_post_number" not in fake_discourse.received[0].json()


def test_discourse_429_wait_seconds_in_body(fake_discourse, http_client):
    fake_discourse.fail_next(429, body={"errors": ["slow down"], "extras": {"wait_seconds": 11}})
    with pytest.raises(RetryableSendError) as caught:
        discourse.send_reply(http_client, fake_discourse.base_url, "discourse-key", "dusk-bot", 12, "hi")
    assert caught.value.retry_after == 11.0


def test_discourse_429_retry_after_header_wins(fake_discourse, http_client):
    fake_discourse.fail_next(429, headers={"Retry-After": "3"}, body={"extras": {"wait_seconds": 11}})
    with pytest.raises(RetryableSendError) as caught:
        discourse.send_reply(http_client, fake_discourse.base_url, "discourse-key", "dusk-bot", 12, "hi")
    assert caught.value.retry_after == 3.0


def test_discourse_422_is_permanent_and_500_retryable(fake_discourse, http_client):
    fake_discourse.fail_next(422, body={"errors": ["Body is too similar to what you recently posted"]})
    with pytest.raises(PermanentSendError):
        discourse.send_reply(http_client, fake_discourse.base_url, "discourse-key", "dusk-bot", 12, "hi")
    fake_discourse.fail_next(500)
    with pytest.raises(RetryableSendError):
        discourse.send_reply(http_client, fake_discourse.base_url, "discourse-key", "dusk-bot", 12, "hi")


def test_discourse_fake_flags_wrong_credentials(fake_discourse, http_client):
    fake_discourse.fail_next(403)
    with pytest.raises(PermanentSendError):
        discourse.send_reply(http_client, fake_discourse.base_url, "bad", "someone", 12, "hi")
    assert len(fake_discourse.violations) == 2
    fake_discourse.violations.clear()


# ================================================================================================
# Messenger
# ================================================================================================


def test_messenger_verify_subscription():
    params = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "1158201444"}
    assert messenger.verify_subscription(params, "tok") == "1158201444"
    with pytest.raises(SignatureError):
        messenger.verify_subscription({**params, "hub.verify_token": "nope"}, "tok")
    with pytest.raises(SignatureError):
        messenger.verify_subscription({**params, "hub.mode": "unsubscribe"}, "tok")
    with pytest.raises(SignatureError):
        messenger.verify_subscription({k: v for k, v in params.items() if k != "hub.challenge"}, "tok")
    with pytest.raises(SignatureError):
        messenger.verify_subscription({}, "tok")


def test_messenger_signature():
    body = b'{"object":"page","entry":[]}'
    header = sha256_hex_signature("app-secret", body)
    messenger.verify_signature("app-secret", body, header)
    with pytest.raises(SignatureError):
        messenger.verify_signature("app-secret", body + b" ", header)
    with pytest.raises(SignatureError):
        messenger.verify_signature("app-secret", body, None)


def _messenger_payload():
    return {
        "object": "page",
        "entry": [
            {
                "id": "PAGE1",
                "time": 1758000000000,
                "messaging": [
                    {
                        "sender": {"id": "PSID1"},
                        "recipient": {"id": "PAGE1"},
                        "timestamp": 1758000000123,
                        "message": {"mid": "m_1", "text": "Hallo, waar is mijn pakket?\nGroet"},
                    },
                    {
                        "sender": {"id": "PAGE1"},
                        "recipient": {"id": "PSID1"},
                        "timestamp": 1758000000500,
                        "message": {"mid": "m_2", "text": "our reply", "is_echo": True},
                    },
                    {"sender": {"id": "PSID1"}, "recipient": {"id": "PAGE1"}, "timestamp": 1, "read": {"watermark": 1}},
                ],
            },
            {
                "id": "PAGE1",
                "time": 1758000001000,
                "messaging": [
                    {
                        "sender": {"id": "PSID2"},
                        "recipient": {"id": "PAGE1"},
                        "timestamp": 1758000001000,
                        "message": {
                            "mid": "m_3",
                            "attachments": [{"type": "image", "payload": {"url": "https://example.com/x.png"}}],
                            "reply_to": {"mid": "m_0"},
                        },
                    }
                ],
            },
        ],
    }


def test_messenger_parse_events():
    first, second = messenger.parse_events(_messenger_payload())
    assert first.platform_message_id == "m_1"
    assert first.customer_id == first.thread_id == "PSID1"
    assert first.text == "Hallo, waar is mijn pakket?\nGroet"
    assert first.created_at == datetime.fromtimestamp(1758000000.123, tz=UTC)
    assert first.in_reply_to is None
    assert second.platform_message_id == "m_3"
    assert second.text == ""  # attachment only
    assert second.in_reply_to == "m_0"


def test_messenger_ignores_non_page_objects():
    assert messenger.parse_events({"object": "instagram", "entry": _messenger_payload()["entry"]}) == []


def test_messenger_send_reply(fake_messenger, http_client):
    result = messenger.send_reply(
        http_client, fake_messenger.base_url, "page-token", "PSID1", "We moved: call 0800 123"
    )
    assert result.platform_id == fake_messenger.messages[0]["mid"]
    (request,) = fake_messenger.received
    assert request.path == "/v19.0/me/messages"
    assert request.param("access_token") == "page-token"
    assert request.json() == {
        "recipient": {"id": "PSID1"},
        "messaging_type": "RESPONSE",
        "message": {"text": "We moved: call 0800 123"},
    }


def test_messenger_other_api_version(http_client):
    from channels_app.tests.support.fakeplatforms import FakeMessenger

    with FakeMessenger(api_version="v21.0") as fake:
        messenger.send_reply(http_client, fake.base_url, "page-token", "PSID1", "hi", api_version="v21.0")
        assert fake.violations == []


@pytest.mark.parametrize("code", [4, 17, 32, 613])
def test_messenger_throttling_codes_are_retryable(fake_messenger, http_client, code):
    fake_messenger.fail_next(400, body=graph_error(code, "Calls to this api have exceeded the rate limit."))
    with pytest.raises(RetryableSendError):
        messenger.send_reply(http_client, fake_messenger.base_url, "page-token", "PSID1", "hi")


def test_messenger_transient_flag_is_retryable(fake_messenger, http_client):
    fake_messenger.fail_next(400, body=graph_error(999, "temporary", transient=True))
    with pytest.raises(RetryableSendError):
        messenger.send_reply(http_client, fake_messenger.base_url, "page-token", "PSID1", "hi")


@pytest.mark.parametrize(("status", "code"), [(400, 100), (400, 10), (403, 200), (400, 551)])
def test_messenger_other_errors_are_permanent(fake_messenger, http_client, status, code):
    fake_messenger.fail_next(status, body=graph_error(code))
    with pytest.raises(PermanentSendError) as caught:
        messenger.send_reply(http_client, fake_messenger.base_url, "page-token", "PSID1", "hi")
    assert caught.value.status_code == status


def test_messenger_429_and_500_are_retryable(fake_messenger, http_client):
    fake_messenger.rate_limit_next("5")
    with pytest.raises(RetryableSendError) as caught:
        messenger.send_reply(http_client, fake_messenger.base_url, "page-token", "PSID1", "hi")
    assert caught.value.retry_after == 5.0
    fake_messenger.fail_next(500, body="upstream exploded")
    with pytest.raises(RetryableSendError):
        messenger.send_reply(http_client, fake_messenger.base_url, "page-token", "PSID1", "hi")


# ================================================================================================
# YouTube
# ================================================================================================

T0 = datetime(2026, 10, 1, 0, 0, 0, tzinfo=UTC)


def _seed(fake, count, start=T0, step=timedelta(minutes=1), prefix="c"):
    for i in range(count):
        fake.add_comment(f"{prefix}{i}", f"comment {i}", start + i * step)


def test_youtube_fetch_comment_threads_with_api_key(fake_youtube, http_client):
    fake_youtube.add_comment("Ugx1", "Pourquoi fermer les commentaires ?\nMerci", T0, author_name="@marie")
    messages, next_token = youtube.fetch_comment_threads(
        http_client, fake_youtube.base_url, fake_youtube.api_key, fake_youtube.channel_id
    )
    assert next_token is None
    (msg,) = messages
    assert msg.platform_message_id == "Ugx1"
    assert msg.thread_id == "Ugx1"
    assert msg.customer_id == "UCcustomer000000000000"
    assert msg.customer_handle == "@marie"
    assert msg.customer_name == "marie"
    assert msg.text == "Pourquoi fermer les commentaires ?\nMerci"
    assert msg.created_at == T0
    (request,) = fake_youtube.received
    assert request.param("key") == fake_youtube.api_key
    assert "authorization" not in request.headers
    assert request.param("maxResults") == "100"
    assert request.param("pageToken") is None


def test_youtube_fetch_with_oauth_token_and_video_id(fake_youtube, http_client):
    fake_youtube.add_comment("a", "on video 1", T0, video_id="vid1")
    fake_youtube.add_comment("b", "on video 2", T0, video_id="vid2")
    messages, _ = youtube.fetch_comment_threads(http_client, fake_youtube.base_url, fake_youtube.access_token, "vid2")
    assert [m.platform_message_id for m in messages] == ["b"]
    assert fake_youtube.received[0].headers["authorization"] == f"Bearer {fake_youtube.access_token}"
    assert fake_youtube.received[0].param("videoId") == "vid2"


def test_youtube_fetch_pages(fake_youtube, http_client):
    fake_youtube.page_size = 2
    _seed(fake_youtube, 5)
    first, token = youtube.fetch_comment_threads(
        http_client, fake_youtube.base_url, "AIzaFakeKey", fake_youtube.channel_id
    )
    assert [m.platform_message_id for m in first] == ["c4", "c3"]
    second, token = youtube.fetch_comment_threads(
        http_client, fake_youtube.base_url, "AIzaFakeKey", fake_youtube.channel_id, token
    )
    assert [m.platform_message_id for m in second] == ["c2", "c1"]
    assert fake_youtube.received[1].param("pageToken") == "p2"


def test_youtube_first_poll_reads_everything_oldest_first(fake_youtube, http_client):
    fake_youtube.page_size = 3
    _seed(fake_youtube, 8)
    result = youtube.poll_new_comments(
        http_client, fake_youtube.base_url, "AIzaFakeKey", fake_youtube.channel_id, None, ()
    )
    assert [m.platform_message_id for m in result.messages] == [f"c{i}" for i in range(8)]
    assert result.high_water == T0 + timedelta(minutes=7)
    assert result.boundary_ids == {"c7"}
    assert result.complete is True
    assert len(fake_youtube.received) == 3


def test_youtube_poll_stops_at_high_water_and_reads_nothing_twice(fake_youtube, http_client):
    fake_youtube.page_size = 3
    _seed(fake_youtube, 20)
    first = youtube.poll_new_comments(http_client, fake_youtube.base_url, "AIzaFakeKey", fake_youtube.channel_id, None)
    _seed(fake_youtube, 2, start=T0 + timedelta(hours=1), prefix="n")
    fake_youtube.received.clear()
    second = youtube.poll_new_comments(
        http_client, fake_youtube.base_url, "AIzaFakeKey", fake_youtube.channel_id, first.high_water, first.boundary_ids
    )
    assert [m.platform_message_id for m in second.messages] == ["n0", "n1"]
    # Page 1 is n1, n0, c19; c19 sits exactly at the mark, so page 2 is read to make sure no
    # other comment shares that second, and its first item (c18) is older: stop there.
    assert len(fake_youtube.received) == 2
    third = youtube.poll_new_comments(
        http_client,
        fake_youtube.base_url,
        "AIzaFakeKey",
        fake_youtube.channel_id,
        second.high_water,
        second.boundary_ids,
    )
    assert third.messages == []
    assert third.high_water == second.high_water
    assert third.boundary_ids == second.boundary_ids


def test_youtube_poll_same_second_comments_are_neither_missed_nor_repeated(fake_youtube, http_client):
    fake_youtube.page_size = 2
    same = T0 + timedelta(minutes=5)
    fake_youtube.add_comment("early", "before", T0)
    fake_youtube.add_comment("s1", "same second 1", same)
    fake_youtube.add_comment("s2", "same second 2", same)
    first = youtube.poll_new_comments(http_client, fake_youtube.base_url, "AIzaFakeKey", fake_youtube.channel_id, None)
    assert [m.platform_message_id for m in first.messages] == ["early", "s1", "s2"]
    assert first.boundary_ids == {"s1", "s2"}

    # Two more arrive within the same second after the poll, plus one later.
    fake_youtube.add_comment("s3", "same second 3", same)
    fake_youtube.add_comment("s4", "same second 4", same)
    second = youtube.poll_new_comments(
        http_client, fake_youtube.base_url, "AIzaFakeKey", fake_youtube.channel_id, first.high_water, first.boundary_ids
    )
    assert [m.platform_message_id for m in second.messages] == ["s3", "s4"]
    assert second.high_water == same
    assert second.boundary_ids == {"s1", "s2", "s3", "s4"}

    fake_youtube.add_comment("later", "a minute later", same + timedelta(minutes=1))
    third = youtube.poll_new_comments(
        http_client,
        fake_youtube.base_url,
        "AIzaFakeKey",
        fake_youtube.channel_id,
        second.high_water,
        second.boundary_ids,
    )
    assert [m.platform_message_id for m in third.messages] == ["later"]
    assert third.boundary_ids == {"later"}


def test_youtube_poll_survives_comments_arriving_between_pages(fake_youtube, http_client):
    fake_youtube.page_size = 2
    _seed(fake_youtube, 6)
    original_list = fake_youtube._list
    calls = {"n": 0}

    def list_then_insert(received):
        answer = original_list(received)
        calls["n"] += 1
        if calls["n"] == 1:  # a comment lands while we read page 1: page 2 shifts by one
            fake_youtube.add_comment("late", "posted mid-poll", T0 + timedelta(hours=2))
        return answer

    fake_youtube._list = list_then_insert
    result = youtube.poll_new_comments(http_client, fake_youtube.base_url, "AIzaFakeKey", fake_youtube.channel_id, None)
    ids = [m.platform_message_id for m in result.messages]
    # c3 was on page 1 and again at the top of the shifted page 2: read once.
    assert ids == [f"c{i}" for i in range(6)]
    # The late comment is newer than the mark, so the next poll picks it up.
    following = youtube.poll_new_comments(
        http_client,
        fake_youtube.base_url,
        "AIzaFakeKey",
        fake_youtube.channel_id,
        result.high_water,
        result.boundary_ids,
    )
    assert [m.platform_message_id for m in following.messages] == ["late"]


def test_youtube_poll_skips_own_comments_but_moves_the_mark(fake_youtube, http_client):
    fake_youtube.add_comment("cust", "customer", T0)
    fake_youtube.add_comment(
        "mine", "our pinned notice", T0 + timedelta(minutes=1), author_channel_id=fake_youtube.channel_id
    )
    result = youtube.poll_new_comments(
        http_client,
        fake_youtube.base_url,
        "AIzaFakeKey",
        fake_youtube.channel_id,
        None,
        own_channel_id=fake_youtube.channel_id,
    )
    assert [m.platform_message_id for m in result.messages] == ["cust"]
    assert result.high_water == T0 + timedelta(minutes=1)


def test_youtube_poll_max_pages_reports_incomplete(fake_youtube, http_client):
    fake_youtube.page_size = 2
    _seed(fake_youtube, 10)
    result = youtube.poll_new_comments(
        http_client, fake_youtube.base_url, "AIzaFakeKey", fake_youtube.channel_id, None, max_pages=2
    )
    assert result.complete is False
    assert len(result.messages) == 4


def test_youtube_poll_on_empty_channel(fake_youtube, http_client):
    result = youtube.poll_new_comments(http_client, fake_youtube.base_url, "AIzaFakeKey", fake_youtube.channel_id, None)
    assert result == youtube.PollResult([], None, frozenset(), True)


def test_youtube_send_reply(fake_youtube, http_client):
    fake_youtube.add_comment("Ugx1", "hello?", T0)
    result = youtube.send_reply(
        http_client,
        fake_youtube.base_url,
        fake_youtube.access_token,
        "Ugx1",
        "Comments close 1 Oct: https://help.example",
    )
    assert result.platform_id.startswith("Ugx1.reply")
    (request,) = fake_youtube.received
    assert request.param("part") == "snippet"
    assert request.json() == {
        "snippet": {"parentId": "Ugx1", "textOriginal": "Comments close 1 Oct: https://help.example"}
    }


def test_youtube_quota_exceeded_is_retryable_and_forbidden_permanent(fake_youtube, http_client):
    fake_youtube.add_comment("Ugx1", "hello?", T0)
    fake_youtube.fail_next(403, body=google_error(403, "quotaExceeded"))
    with pytest.raises(RetryableSendError):
        youtube.send_reply(http_client, fake_youtube.base_url, fake_youtube.access_token, "Ugx1", "hi")
    fake_youtube.fail_next(403, body=google_error(403, "forbidden"))
    with pytest.raises(PermanentSendError):
        youtube.send_reply(http_client, fake_youtube.base_url, fake_youtube.access_token, "Ugx1", "hi")


def test_youtube_fetch_errors(fake_youtube, http_client):
    fake_youtube.rate_limit_next("30")
    with pytest.raises(RetryableSendError) as caught:
        youtube.fetch_comment_threads(http_client, fake_youtube.base_url, "AIzaFakeKey", fake_youtube.channel_id)
    assert caught.value.retry_after == 30.0
    fake_youtube.fail_next(404, body=google_error(404, "channelNotFound"))
    with pytest.raises(PermanentSendError):
        youtube.fetch_comment_threads(http_client, fake_youtube.base_url, "AIzaFakeKey", fake_youtube.channel_id)


# ================================================================================================
# Email
# ================================================================================================

SENDGRID_HEADERS = (
    "Received: by mx.example.com\r\n"
    "Message-ID: <CAF1234@mail.example.org>\r\n"
    "In-Reply-To: <reply-1@brand.example>\r\n"
    "References: <root-0@brand.example> <reply-1@brand.example>\r\n"
    "Date: Thu, 01 Oct 2026 09:30:00 +0200\r\n"
    "Content-Language: nl-NL\r\n"
    "Subject: Re: Uw vraag\r\n"
)


def test_email_parse_sendgrid_form():
    payload = {
        "from": "Jan de Vries <Jan@Example.org>",
        "to": "support@brand.example",
        "subject": "Re: Uw vraag",
        "text": "Dag,\nmijn bestelling is nog niet binnen.\nGroet, Jan",
        "headers": SENDGRID_HEADERS,
    }
    msg = email_adapter.parse_inbound(payload)
    assert msg.platform_message_id == "<CAF1234@mail.example.org>"
    assert msg.thread_id == "<root-0@brand.example>"
    assert msg.in_reply_to == "<reply-1@brand.example>"
    assert msg.customer_id == "jan@example.org"
    assert msg.customer_handle == "Jan@Example.org"
    assert msg.customer_name == "Jan de Vries"
    assert msg.text == "Dag,\nmijn bestelling is nog niet binnen.\nGroet, Jan"
    assert msg.lang == "nl"
    assert msg.created_at == datetime(2026, 10, 1, 7, 30, tzinfo=UTC)
    assert msg.raw["subject"] == "Re: Uw vraag"


def test_email_parse_postmark_json():
    payload = {
        "FromFull": {"Email": "ana@example.com", "Name": "Ana"},
        "From": "ana@example.com",
        "Subject": "Ayuda",
        "TextBody": "",
        "HtmlBody": "<p>Hola, <b>necesito</b> ayuda</p>",
        "Date": "Thu, 1 Oct 2026 10:00:00 +0000",
        "Headers": [{"Name": "Message-ID", "Value": "abc@mail.example.com"}],
    }
    msg = email_adapter.parse_inbound(payload)
    assert msg.platform_message_id == "<abc@mail.example.com>"
    assert msg.thread_id == msg.platform_message_id  # a new thread
    assert msg.customer_name == "Ana"
    assert msg.text == "Hola, necesito ayuda"
    assert msg.in_reply_to is None
    assert msg.lang is None


def test_email_parse_mailgun_form():
    payload = {
        "sender": "bob@example.net",
        "subject": "Question",
        "body-plain": "Where did the forum go?",
        "Message-Id": "<mg-1@example.net>",
        "In-Reply-To": "<notice-9@brand.example>",
        "timestamp": "1790000000",
        "message-headers": json.dumps(
            [["Message-Id", "<mg-1@example.net>"], ["Date", "Thu, 1 Oct 2026 10:00:00 +0000"]]
        ),
    }
    msg = email_adapter.parse_inbound(payload)
    assert msg.platform_message_id == "<mg-1@example.net>"
    assert msg.in_reply_to == msg.thread_id == "<notice-9@brand.example>"
    assert msg.created_at == datetime.fromtimestamp(1790000000, tz=UTC)


def test_email_without_message_id_gets_a_stable_id():
    payload = {"from": "x@example.com", "subject": "s", "text": "t"}
    first = email_adapter.parse_inbound(payload)
    assert first.platform_message_id.startswith("<sha256-")
    assert email_adapter.parse_inbound(dict(payload)).platform_message_id == first.platform_message_id
    assert email_adapter.parse_inbound({**payload, "text": "u"}).platform_message_id != first.platform_message_id
    assert first.created_at.tzinfo is not None


def test_email_send_reply_threads_correctly(fake_smtp):
    result = email_adapter.send_reply(
        fake_smtp.host,
        fake_smtp.port,
        "support@brand.example",
        "jan@example.org",
        "Uw vraag",
        "Beste Jan,\nDit kanaal sluit op 1 oktober. Bel 0800-1234. Référence DSK-7KQ2M9XH",
        in_reply_to="<CAF1234@mail.example.org>",
        references=["<root-0@brand.example>"],
        from_name="Brand Support",
        timeout=5,
    )
    (mail,) = fake_smtp.messages
    message = mail.message
    assert mail.mail_from == "support@brand.example"
    assert mail.rcpt_tos == ["jan@example.org"]
    assert message["Subject"] == "Re: Uw vraag"
    assert message["In-Reply-To"] == "<CAF1234@mail.example.org>"
    assert message["References"] == "<root-0@brand.example> <CAF1234@mail.example.org>"
    assert message["Message-ID"] == result.platform_id
    assert result.platform_id.endswith("@brand.example>")
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["From"] == "Brand Support <support@brand.example>"
    assert (
        message.get_content().replace("\r\n", "\n")
        == "Beste Jan,\nDit kanaal sluit op 1 oktober. Bel 0800-1234. Référence DSK-7KQ2M9XH\n"
    )
    assert result.status_code == 250


def test_email_reply_subject_not_doubled():
    msg = email_adapter.build_reply("a@b.example", "c@d.example", "RE: help", "x", in_reply_to="<1@d>")
    assert msg["Subject"] == "RE: help"
    assert msg["References"] == "<1@d>"


def test_email_rejected_recipient_is_permanent(fake_smtp):
    fake_smtp.reject_next_rcpt("550 5.1.1 No such user")
    with pytest.raises(PermanentSendError) as caught:
        email_adapter.send_reply(fake_smtp.host, fake_smtp.port, "s@brand.example", "gone@example.org", "s", "t")
    assert caught.value.status_code == 550
    assert fake_smtp.messages == []


def test_email_greylisting_is_retryable(fake_smtp):
    fake_smtp.reject_next_rcpt("451 4.7.1 Greylisted, try again")
    with pytest.raises(RetryableSendError) as caught:
        email_adapter.send_reply(fake_smtp.host, fake_smtp.port, "s@brand.example", "a@example.org", "s", "t")
    assert caught.value.status_code == 451
    fake_smtp.reject_next_data("452 4.3.1 Insufficient system storage")
    with pytest.raises(RetryableSendError):
        email_adapter.send_reply(fake_smtp.host, fake_smtp.port, "s@brand.example", "a@example.org", "s", "t")
    email_adapter.send_reply(fake_smtp.host, fake_smtp.port, "s@brand.example", "a@example.org", "s", "t")
    assert len(fake_smtp.messages) == 1


def test_email_connection_refused_is_retryable():
    with pytest.raises(RetryableSendError):
        email_adapter.send_reply("127.0.0.1", free_port(), "s@brand.example", "a@example.org", "s", "t", timeout=2)


def test_http_client_fixture_has_timeouts(http_client):
    assert isinstance(http_client, httpx.Client)
    assert http_client.timeout.connect == 2.0


# Make the x_created_at helper part of a test so its format is pinned.
def test_x_created_at_format():
    assert x_created_at(datetime(2017, 10, 31, 22, 10, 47, tzinfo=UTC)) == "Tue Oct 31 22:10:47 +0000 2017"
