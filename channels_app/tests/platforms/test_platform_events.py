"""Every way a customer reaches a retired channel gets an answer, and nobody else gets one.

Each test posts a payload shaped as the platform documents it to the real webhook view (signed,
through Django), then lets the outbox send to the platform's fake, and asserts what was stored and
what the platform received. docs/platform-events.md lists the same events per platform.

Sources of the shapes:
- X Account Activity API, "Account Activity data objects" (docs.x.com/x-api/enterprise-gnip-2.0/
  fundamentals/account-activity): tweet_create_events, tweet_delete_events
  ({"status": {"id", "user_id"}, "timestamp_ms"}), direct_message_events (type message_create,
  message_create.target.recipient_id, sender_id, message_data.text; users keyed by id),
  direct_message_indicate_typing_events, direct_message_mark_read_events, favorite_events,
  follow_events. X API v2 "Direct Messages" (docs.x.com/x-api/direct-messages): POST
  /2/dm_conversations/with/:participant_id/messages answers {"data": {"dm_conversation_id",
  "dm_event_id"}}; GET /2/dm_conversations/with/:participant_id/dm_events.
- Discourse webhooks (meta.discourse.org/t/configure-webhooks-that-trigger-on-discourse-events/49045;
  payloads from app/serializers/web_hook_post_serializer.rb, a PostSerializer with
  staff/moderator/admin, post_type and topic_archetype; events from
  config/initializers/012-web_hook_events.rb: post_created, post_destroyed, topic_destroyed).
- Meta Messenger Platform webhooks (developers.facebook.com/docs/messenger-platform/reference/
  webhook-events): messages (text, quick_reply, attachments), messaging_postbacks
  ({"postback": {"title", "payload", "mid"}}), message_echoes (is_echo), message_deliveries,
  message_reads, message_reactions, standby.
- YouTube Data API v3 commentThreads (developers.google.com/youtube/v3/docs/commentThreads):
  snippet.topLevelComment.snippet.authorChannelId.value.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.models import (
    Channel,
    Conversation,
    ConversationState,
    Message,
    OutboxMessage,
    OutboxState,
    PhaseKind,
)
from channels_app.platforms.adapters.base import sha256_b64_signature
from channels_app.platforms.services.outbox import send_due_replies
from channels_app.platforms.services.polling import poll_youtube_channel
from channels_app.tests.support.fakeplatforms import build_direct_message, build_tweet
from channels_app.tests.support.inbound_helpers import (
    BRAND_ID,
    WEBHOOK_SECRET,
    platform_channel,
    post_x,
    signed_hex,
    sunset,
)

pytestmark = pytest.mark.django_db

CUSTOMER = "3001969357"


def _post_x_payload(client, channel, payload):
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"x-twitter-webhooks-signature": sha256_b64_signature(WEBHOOK_SECRET, body)}
    return client.post(f"/hooks/{channel.pk}/x", body, content_type="application/json", headers=headers)


@pytest.fixture
def retired_x(manager, approver, platform_secrets, fake_x):
    channel = platform_channel("x", fake_x.base_url)
    sunset(manager=manager, approver=approver, channels=[channel])
    return channel


# --- X: direct messages ---------------------------------------------------------------------------


def test_a_customers_dm_is_its_own_conversation_and_is_answered_by_dm(client, retired_x, fake_x):
    payload = build_direct_message(
        "954491830116155396",
        "Bonjour, où est ma commande ?",
        CUSTOMER,
        BRAND_ID,
        screen_name="furiouscamper",
        name="Jordan Brinks",
    )
    response = _post_x_payload(client, retired_x, payload)
    assert response.status_code == 200
    assert response.json() == {"stored": 1, "duplicates": 0, "replies_queued": 1}
    message = Message.objects.get()
    conversation = message.conversation
    # The DM conversation id X uses (API v2): both user ids, smaller first.
    assert conversation.platform_thread_id == f"{BRAND_ID}-{CUSTOMER}"
    assert (conversation.customer_id, conversation.customer_handle) == (CUSTOMER, "furiouscamper")
    assert message.meta == {"name": "Jordan Brinks", "dm": True}

    assert send_due_replies().sent == 1
    assert fake_x.tweets == []  # never a public reply to a private message
    (dm,) = fake_x.dms
    assert dm["participant"] == CUSTOMER
    assert dm["text"].startswith("Bonjour Jordan Brinks, le support a déménagé")  # detected locale
    row = OutboxMessage.objects.get()
    assert (row.state, row.platform_response_id) == (OutboxState.SENT, dm["id"])
    assert Message.objects.filter(direction="out", conversation=conversation).count() == 1
    # The same DM delivered again stores and sends nothing more.
    assert _post_x_payload(client, retired_x, payload).json()["duplicates"] == 1
    assert send_due_replies().sent == 0
    assert len(fake_x.dms) == 1 and fake_x.violations == []


def test_a_dm_whose_answer_was_lost_is_found_on_x_and_not_sent_again(client, retired_x, fake_x):
    fake_x.fail_next(503, after_effect=True, path=f"/2/dm_conversations/with/{CUSTOMER}/messages")
    _post_x_payload(client, retired_x, build_direct_message("954491830116155398", "Hello?", CUSTOMER, BRAND_ID))
    assert send_due_replies().retried == 1
    row = OutboxMessage.objects.get()
    assert row.state == OutboxState.PENDING and row.in_doubt_since is not None
    assert send_due_replies(now=row.next_attempt_at + timedelta(seconds=1)).sent == 1
    row.refresh_from_db()
    (dm,) = fake_x.dms
    assert (row.state, row.platform_response_id) == (OutboxState.SENT, dm["id"])
    assert row.last_error == "sent by an earlier attempt (found on the platform)"
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake_x.received] == [
        ("POST", "messages"),
        ("GET", "dm_events"),
    ]
    assert fake_x.violations == []


def test_the_brands_own_dms_and_dm_indicators_are_acknowledged_and_never_answered(client, retired_x, fake_x):
    own = build_direct_message("954491830116155397", "Thanks, we are on it", BRAND_ID, CUSTOMER, for_user_id=BRAND_ID)
    typing = {
        "for_user_id": BRAND_ID,
        "direct_message_indicate_typing_events": [
            {"created_timestamp": "1518127183443", "sender_id": CUSTOMER, "target": {"recipient_id": BRAND_ID}}
        ],
    }
    read = {
        "for_user_id": BRAND_ID,
        "direct_message_mark_read_events": [
            {
                "created_timestamp": "1518452444662",
                "sender_id": CUSTOMER,
                "target": {"recipient_id": BRAND_ID},
                "last_read_event_id": "963085315333238788",
            }
        ],
    }
    for payload in (own, typing, read):
        response = _post_x_payload(client, retired_x, payload)
        assert response.status_code == 200
        assert response.json() == {"stored": 0, "duplicates": 0, "replies_queued": 0}
    assert not Message.objects.exists()
    assert send_due_replies().claimed == 0
    assert fake_x.received == []


def test_the_brands_own_tweets_and_replies_are_never_answered(client, retired_x, fake_x):
    own_tweet = build_tweet("1101", "@ana we are sorry", BRAND_ID, "brand", in_reply_to="1100")
    retweet = {**build_tweet("1102", "RT @brand: news", CUSTOMER, "ana"), "retweeted_status": {"id_str": "1000"}}
    like = {
        "for_user_id": BRAND_ID,
        "favorite_events": [
            {
                "id": "a7ba59eab0bfcba386f7acedac279542",
                "created_at": "Mon Mar 26 16:33:26 +0000 2018",
                "timestamp_ms": 1522082006140,
                "favorited_status": build_tweet("1103", "our tweet", BRAND_ID, "brand"),
                "user": {"id_str": CUSTOMER, "screen_name": "ana"},
            }
        ],
    }
    follow = {
        "for_user_id": BRAND_ID,
        "follow_events": [
            {
                "type": "follow",
                "created_timestamp": "1517588749178",
                "target": {"id": BRAND_ID},
                "source": {"id": CUSTOMER},
            }
        ],
    }
    assert post_x(client, retired_x, [own_tweet, retweet]).json()["stored"] == 0
    for payload in (like, follow):
        assert _post_x_payload(client, retired_x, payload).json()["stored"] == 0
    assert not Message.objects.exists()
    send_due_replies()
    assert fake_x.received == []


def test_an_open_dm_conversation_is_moved_at_the_cutover_with_a_dm_hand_off(
    client, manager, approver, platform_secrets, fake_x
):
    channel = platform_channel("x", fake_x.base_url)
    # Still staffed: the DM is stored, open, and left to people.
    payload = build_direct_message("954491830116155400", "Where is my refund?", CUSTOMER, BRAND_ID, name="Ana")
    assert _post_x_payload(client, channel, payload).json() == {"stored": 1, "duplicates": 0, "replies_queued": 0}
    assert Conversation.objects.get().state == ConversationState.OPEN

    sunset(manager=manager, approver=approver, channels=[channel])
    conversation = Conversation.objects.get()
    assert conversation.state == ConversationState.REDIRECTED
    handoff = OutboxMessage.objects.get(kind="handoff")
    assert send_due_replies().sent == 1
    (dm,) = fake_x.dms
    assert dm["participant"] == CUSTOMER and conversation.reference in dm["text"]
    assert fake_x.tweets == []
    handoff.refresh_from_db()
    assert handoff.state == OutboxState.SENT


def test_dms_show_in_the_message_log_and_the_dry_run(client, manager, approver, platform_secrets, fake_x):
    channel = platform_channel("x", fake_x.base_url)
    payload = build_direct_message("954491830116155401", "Help me please", CUSTOMER, BRAND_ID, name="Ana")
    _post_x_payload(client, channel, payload)
    plan = sunset(manager=manager, approver=approver, channels=[channel], until=PhaseKind.SOFT_CLOSE)
    hard_close = plan.phases.get(kind=PhaseKind.HARD_CLOSE)
    client.force_login(manager)
    dry_run = client.get(f"/plans/{plan.pk}/phases/{hard_close.pk}/dry-run/")
    assert dry_run.status_code == 200
    page = dry_run.content.decode()
    assert "direct message" in page
    assert "of 10000" in page  # the DM limit, not the tweet's 280
    log = client.get(f"/channels/{channel.pk}/messages/")
    assert log.status_code == 200
    assert "direct message" in log.content.decode() and "Help me please" in log.content.decode()


# --- X: deletions ---------------------------------------------------------------------------------


def test_a_tweet_deleted_before_its_reply_is_sent_is_skipped_with_the_reason(client, retired_x, fake_x):
    post_x(
        client,
        retired_x,
        [build_tweet("2001", "@brand help", CUSTOMER, "ana"), build_tweet("2002", "@brand hi", "42", "bo")],
    )
    delete = {
        "for_user_id": BRAND_ID,
        "tweet_delete_events": [{"status": {"id": "2001", "user_id": CUSTOMER}, "timestamp_ms": "1432228155593"}],
    }
    response = _post_x_payload(client, retired_x, delete)
    assert response.status_code == 200
    assert response.json() == {"stored": 0, "duplicates": 0, "replies_queued": 0, "replies_skipped": 1}
    skipped = OutboxMessage.objects.get(in_reply_to__platform_message_id="2001")
    assert skipped.state == OutboxState.SKIPPED
    assert skipped.last_error == "deleted: the customer deleted the tweet before the reply was sent"
    assert send_due_replies().sent == 1
    assert [t["in_reply_to"] for t in fake_x.tweets] == ["2002"]
    # The brand deleting one of its own tweets changes nothing.
    own = {"for_user_id": BRAND_ID, "tweet_delete_events": [{"status": {"id": "2002", "user_id": BRAND_ID}}]}
    assert _post_x_payload(client, retired_x, own).json() == {"stored": 0, "duplicates": 0, "replies_queued": 0}


def test_a_reply_already_claimed_when_its_tweet_is_deleted_is_skipped_on_its_next_attempt(client, retired_x, fake_x):
    post_x(client, retired_x, [build_tweet("2101", "@brand help", CUSTOMER, "ana")])
    fake_x.fail_next(503)  # the first attempt fails: the reply waits for a retry
    assert send_due_replies().retried == 1
    delete = {"for_user_id": BRAND_ID, "tweet_delete_events": [{"status": {"id": "2101", "user_id": CUSTOMER}}]}
    assert _post_x_payload(client, retired_x, delete).json()["replies_skipped"] == 1
    row = OutboxMessage.objects.get()
    assert row.state == OutboxState.SKIPPED
    assert Message.objects.get(platform_message_id="2101").meta["deleted"] == "the customer deleted the tweet"


def test_the_hand_off_answers_the_latest_tweet_the_customer_did_not_delete(
    client, manager, approver, platform_secrets, fake_x
):
    channel = platform_channel("x", fake_x.base_url)
    post_x(client, channel, [build_tweet("2201", "@brand my order?", CUSTOMER, "ana")])
    post_x(client, channel, [build_tweet("2202", "@brand hello??", CUSTOMER, "ana", in_reply_to="2201")])
    delete = {"for_user_id": BRAND_ID, "tweet_delete_events": [{"status": {"id": "2202", "user_id": CUSTOMER}}]}
    assert _post_x_payload(client, channel, delete).json()["replies_skipped"] == 0  # staffed: nothing waited
    sunset(manager=manager, approver=approver, channels=[channel])
    assert send_due_replies().sent == 1
    (handoff,) = fake_x.tweets
    assert handoff["in_reply_to"] == "2201"


# --- Discourse ------------------------------------------------------------------------------------


def _post(post_id, *, username="jo", **extra):
    return {
        "post": {
            "id": post_id,
            "name": "Jo Bloggs",
            "username": username,
            "user_id": 77,
            "created_at": "2026-09-30T22:15:03.512Z",
            "cooked": "<p>Is the forum closing?</p>",
            "raw": "Is the forum closing?",
            "post_number": 4,
            "post_type": 1,
            "topic_id": 12,
            "topic_slug": "is-the-forum-closing",
            "topic_title": "Is the forum closing?",
            "topic_archetype": "regular",
            "moderator": False,
            "admin": False,
            "staff": False,
            "hidden": False,
            "trust_level": 1,
            "deleted_at": None,
            "user_deleted": False,
            **extra,
        }
    }


def _post_discourse(client, channel, payload, event="post_created"):
    body = json.dumps(payload).encode()
    headers = {**signed_hex(body, "X-Discourse-Event-Signature"), "X-Discourse-Event": event}
    return client.post(f"/hooks/{channel.pk}/discourse", body, content_type="application/json", headers=headers)


@pytest.fixture
def retired_forum(manager, approver, platform_secrets, fake_discourse):
    forum = platform_channel("discourse", fake_discourse.base_url)
    sunset(manager=manager, approver=approver, channels=[forum])
    return forum


def test_forum_staff_moderators_admins_and_our_account_are_never_answered(client, retired_forum, fake_discourse):
    staff = [
        _post(401, username="mod", moderator=True, staff=True),
        _post(402, username="root", admin=True, staff=True),
        _post(403, username="lead", staff=True),
        _post(404, username="dusk-bot"),  # the channel's own account (our auto-replies)
        _post(405, username="mod", post_type=4, staff=True),  # a whisper
        _post(406, username="system", post_type=3),  # a small action ("closed this topic")
    ]
    for payload in staff:
        response = _post_discourse(client, retired_forum, payload)
        assert response.status_code == 200
        assert response.json() == {"stored": 0, "duplicates": 0, "replies_queued": 0}
    others = [
        ("ping", {"ping": "OK"}),
        ("post_edited", _post(408)),  # an edit is no new contact
        ("post_recovered", _post(409)),
        ("topic_created", {"topic": {"id": 20, "title": "New", "archetype": "regular", "posts_count": 1}}),
        ("user_created", {"user": {"id": 90, "username": "newbie"}}),
    ]
    for event, payload in others:
        assert _post_discourse(client, retired_forum, payload, event).status_code == 200
    assert not Message.objects.exists()
    send_due_replies()
    assert fake_discourse.posts == []
    # A member's post in the same topic is answered.
    assert _post_discourse(client, retired_forum, _post(407)).json()["replies_queued"] == 1
    assert send_due_replies().sent == 1
    assert len(fake_discourse.posts) == 1


def test_a_private_message_to_the_support_account_is_a_customers_and_answered_in_it(
    client, retired_forum, fake_discourse
):
    payload = _post(501, topic_id=88, post_number=1, topic_archetype="private_message")
    assert _post_discourse(client, retired_forum, payload).json()["replies_queued"] == 1
    message = Message.objects.get()
    assert message.meta == {"name": "Jo Bloggs", "post_number": 1, "private": True}
    assert send_due_replies().sent == 1
    (reply,) = fake_discourse.posts
    assert reply["topic_id"] == 88  # inside the personal message, not a public topic


def test_a_forum_post_or_topic_deleted_before_its_reply_is_sent_is_skipped(client, retired_forum, fake_discourse):
    _post_discourse(client, retired_forum, _post(601))
    _post_discourse(client, retired_forum, _post(602, topic_id=13))
    _post_discourse(client, retired_forum, _post(603, topic_id=14))
    deleted_post = _post(601, deleted_at="2026-09-30T22:20:00.000Z")
    assert _post_discourse(client, retired_forum, deleted_post, "post_destroyed").json()["replies_skipped"] == 1
    topic = {"topic": {"id": 13, "title": "Gone", "archetype": "regular", "posts_count": 1}}
    assert _post_discourse(client, retired_forum, topic, "topic_destroyed").json()["replies_skipped"] == 1
    reasons = dict(
        OutboxMessage.objects.filter(state=OutboxState.SKIPPED).values_list(
            "conversation__platform_thread_id", "last_error"
        )
    )
    assert reasons == {
        "12": "deleted: the post was deleted on the forum before the reply was sent",
        "13": "deleted: the topic was deleted on the forum before the reply was sent",
    }
    assert send_due_replies().sent == 1
    assert [p["topic_id"] for p in fake_discourse.posts] == [14]


# --- Messenger ------------------------------------------------------------------------------------


def _messaging(event):
    return {"object": "page", "entry": [{"id": "page-1", "time": 1790000000000, "messaging": [event]}]}


def _post_messenger(client, channel, payload):
    body = json.dumps(payload).encode()
    headers = signed_hex(body, "X-Hub-Signature-256")
    return client.post(f"/hooks/{channel.pk}/messenger", body, content_type="application/json", headers=headers)


@pytest.fixture
def retired_page(manager, approver, platform_secrets, fake_messenger):
    page = platform_channel("messenger", fake_messenger.base_url)
    sunset(manager=manager, approver=approver, channels=[page])
    return page


def _event(sender="PSID1", **what):
    return {"sender": {"id": sender}, "recipient": {"id": "page-1"}, "timestamp": 1790000000000, **what}


def test_a_get_started_postback_and_a_quick_reply_are_customer_contact_and_answered(
    client, retired_page, fake_messenger
):
    postback = _event(postback={"title": "Get Started", "payload": "GET_STARTED", "mid": "m_pb1"})
    legacy_postback = _event(sender="PSID2", postback={"title": "Get Started", "payload": "GET_STARTED"})
    quick_reply = _event(
        sender="PSID3", message={"mid": "m_qr1", "text": "Order status", "quick_reply": {"payload": "ORDER_STATUS"}}
    )
    attachment = _event(
        sender="PSID4",
        message={"mid": "m_at1", "attachments": [{"type": "image", "payload": {"url": "https://cdn.example/x.jpg"}}]},
    )
    reply = _event(sender="PSID5", message={"mid": "m_re1", "text": "and?", "reply_to": {"mid": "m_earlier"}})
    for event in (postback, legacy_postback, quick_reply, attachment, reply):
        response = _post_messenger(client, retired_page, _messaging(event))
        assert response.status_code == 200
        assert response.json()["replies_queued"] == 1
    assert sorted(Message.objects.values_list("platform_message_id", flat=True)) == [
        "m_at1",
        "m_pb1",
        "m_qr1",
        "m_re1",
        "postback:PSID2:1790000000000",
    ]
    assert send_due_replies().sent == 5
    assert sorted(m["to"] for m in fake_messenger.messages) == ["PSID1", "PSID2", "PSID3", "PSID4", "PSID5"]


def test_the_pages_own_messages_and_receipts_are_never_answered(client, retired_page, fake_messenger):
    events = [
        _event(sender="page-1", message={"mid": "m_e1", "text": "We moved", "is_echo": True, "app_id": 1517}),
        _event(sender="page-1", message={"mid": "m_e2", "text": "Typed by an agent in the inbox"}),
        _event(delivery={"mids": ["m_1"], "watermark": 1790000000000}),
        _event(read={"watermark": 1790000000000}),
        _event(reaction={"reaction": "love", "emoji": "❤", "action": "react", "mid": "m_1"}),
    ]
    for event in events:
        assert _post_messenger(client, retired_page, _messaging(event)).json()["stored"] == 0
    standby = {
        "object": "page",
        "entry": [{"id": "page-1", "time": 1, "standby": [_event(message={"mid": "m_s", "text": "hi"})]}],
    }
    assert _post_messenger(client, retired_page, standby).json()["stored"] == 0
    assert not Message.objects.exists()
    send_due_replies()
    assert fake_messenger.messages == []


# --- YouTube --------------------------------------------------------------------------------------


def test_the_brands_own_youtube_comments_are_never_answered(manager, approver, platform_secrets, fake_youtube):
    channel = platform_channel("youtube", fake_youtube.base_url)
    Channel.objects.filter(pk=channel.pk).update(created_at=timezone.now() - timedelta(hours=1))
    sunset(manager=manager, approver=approver, channels=[channel])
    fake_youtube.add_comment(
        "own1", "Pinned: we moved support", timezone.now(), author_channel_id=channel.platform_account_id
    )
    fake_youtube.add_comment("cust1", "Where did support go?", timezone.now())
    assert poll_youtube_channel(channel_id=channel.pk).stored == 1
    assert send_due_replies().sent == 1
    assert [r["snippet"]["parentId"] for r in fake_youtube.replies] == ["cust1"]


# --- Email ----------------------------------------------------------------------------------------


def test_mail_from_the_mailbox_own_address_is_never_answered(
    client, manager, approver, platform_secrets, smtp_settings
):
    mailbox = platform_channel("email")  # handle support@brand.example
    sunset(manager=manager, approver=approver, channels=[mailbox])
    smtp_settings.messages.clear()  # the cutover's own emails to the plan's people
    headers = {"Authorization": "Basic " + base64.b64encode(f"inbound:{WEBHOOK_SECRET}".encode()).decode()}

    def postmark(message_id, sender):
        # Postmark's inbound JSON (postmarkapp.com/developer/webhooks/inbound-webhook).
        return {
            "FromFull": {"Email": sender, "Name": ""},
            "From": sender,
            "Subject": "Re: your order",
            "TextBody": "Forwarding this to the right team",
            "Date": "Thu, 1 Oct 2026 10:00:00 +0000",
            "Headers": [{"Name": "Message-ID", "Value": message_id}],
        }

    for message_id, sender in (("<a@brand.example>", "Support@Brand.example"), ("<b@mail.example>", "ana@example.com")):
        response = client.post(
            f"/hooks/{mailbox.pk}/email", postmark(message_id, sender), content_type="application/json", headers=headers
        )
        assert response.status_code == 200
    assert send_due_replies().sent == 1
    assert [m.message["To"] for m in smtp_settings.messages] == ["ana@example.com"]
    own = OutboxMessage.objects.get(in_reply_to__author_id="support@brand.example")
    assert (own.state, own.last_error) == (
        OutboxState.SKIPPED,
        "loop guard: the message comes from the channel's own address",
    )
