"""Replies in doubt: an attempt that may have reached the platform is looked up there before
anything is sent again, so a reply is posted once however the attempt before it ended."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from channels_app.models import Message, OutboxMessage, OutboxState
from channels_app.platforms.services.outbox import send_due_replies
from channels_app.tests.support.fakeplatforms import free_port
from channels_app.tests.support.inbound_helpers import (
    BRAND_ID,
    inbound,
    platform_channel,
    receive,
    require_postgresql,
    sunset,
)

pytestmark = pytest.mark.django_db
FOUND = "sent by an earlier attempt (found on the platform)"


def _retry(row: OutboxMessage):
    """Send again once the row's backoff has passed."""
    return send_due_replies(now=row.next_attempt_at + timedelta(seconds=1))


def test_a_5xx_after_x_posted_the_reply_is_found_and_not_posted_again(retired_x_on_fake_x, fake_x):
    fake_x.fail_next(500, after_effect=True, path="/2/tweets")
    receive(retired_x_on_fake_x, inbound("1001"))
    assert send_due_replies().retried == 1
    row = OutboxMessage.objects.get()
    assert row.state == OutboxState.PENDING and row.in_doubt_since is not None
    assert _retry(row).sent == 1
    row.refresh_from_db()
    (tweet,) = fake_x.tweets
    assert (row.state, row.platform_response_id, row.last_error) == (OutboxState.SENT, tweet["id"], FOUND)
    assert [r.method for r in fake_x.received] == ["POST", "GET"]
    search = fake_x.received[1]
    assert search.param("query") == f"in_reply_to_tweet_id:1001 from:{BRAND_ID}"
    # The found reply is kept like a sent one: a customer answering it stays in the conversation.
    assert Message.objects.get(direction="out").platform_message_id == tweet["id"]
    assert fake_x.violations == []


def test_a_5xx_before_anything_was_posted_sends_after_the_lookup(retired_x_on_fake_x, fake_x):
    fake_x.fail_next(500, path="/2/tweets")
    receive(retired_x_on_fake_x, inbound("1001"))
    send_due_replies()
    assert _retry(OutboxMessage.objects.get()).sent == 1
    assert [r.method for r in fake_x.received] == ["POST", "GET", "POST"]
    assert len(fake_x.replies_to("1001")) == 1
    assert OutboxMessage.objects.get().last_error == ""


def test_a_read_timeout_is_in_doubt_and_the_lookup_settles_it(retired_x_on_fake_x, fake_x, settings):
    settings.DUSK_OUTBOX_HTTP_TIMEOUT = 0.3
    fake_x.latency = 1.0  # X posts the reply, then answers too late
    receive(retired_x_on_fake_x, inbound("1001"))
    report = send_due_replies()
    assert report.retried == 1
    row = OutboxMessage.objects.get()
    assert row.in_doubt_since is not None and "timeout" in row.last_error
    fake_x.latency = 0.0
    assert _retry(row).sent == 1
    assert len(fake_x.tweets) == 1
    assert OutboxMessage.objects.get().last_error == FOUND


def test_a_refused_connection_is_not_in_doubt(manager, approver, platform_secrets):
    channel = platform_channel("x")  # the sandbox: the preflight passes
    sunset(manager=manager, approver=approver, channels=[channel])
    channel.api_base_url = f"http://127.0.0.1:{free_port()}"  # then the platform goes away
    channel.save(update_fields=["api_base_url"])
    receive(channel, inbound("1001"))
    assert send_due_replies().retried == 1
    row = OutboxMessage.objects.get()
    assert row.in_doubt_since is None and "transport error" in row.last_error


def test_replies_a_killed_worker_left_sending_are_looked_up_before_sending_again(retired_x_on_fake_x, fake_x):
    receive(retired_x_on_fake_x, inbound("1001"), inbound("1002", customer="43"))
    assert send_due_replies().sent == 2
    # As if the worker died mid-batch: the reply to 1001 was posted, the one to 1002 never left;
    # neither was recorded.
    OutboxMessage.objects.update(
        state=OutboxState.SENDING,
        claimed_at=timezone.now() - timedelta(hours=1),
        claimed_by="dead-worker",
        sent_at=None,
        platform_response_id="",
    )
    Message.objects.filter(direction="out").delete()
    fake_x.tweets[:] = [t for t in fake_x.tweets if t["in_reply_to"] == "1001"]
    (posted,) = fake_x.tweets
    assert send_due_replies().sent == 2
    assert len(fake_x.replies_to("1001")) == len(fake_x.replies_to("1002")) == 1
    first, second = OutboxMessage.objects.order_by("id")
    assert (first.platform_response_id, first.last_error) == (posted["id"], FOUND)
    assert second.platform_response_id == fake_x.replies_to("1002")[0]["id"] and second.last_error == ""
    assert first.in_doubt_since == second.in_doubt_since  # the dead worker's claim time


def test_a_send_that_could_outlast_its_claim_is_left_for_the_next_owner(retired_x_on_fake_x, fake_x, settings):
    settings.DUSK_OUTBOX_STUCK_AFTER = 30  # shorter than 3 x the 15 s request timeout
    receive(retired_x_on_fake_x, inbound("1001"))
    report = send_due_replies()
    assert (report.sent, report.postponed) == (0, 1)
    assert fake_x.received == []
    row = OutboxMessage.objects.get()
    assert (row.state, row.attempts, row.claimed_by) == (OutboxState.PENDING, 0, "")


@pytest.mark.django_db(transaction=True)
def test_an_outcome_is_not_written_over_a_claim_another_sender_took_over(manager, approver, platform_secrets, fake_x):
    require_postgresql()
    channel = platform_channel("x", fake_x.base_url)
    sunset(manager=manager, approver=approver, channels=[channel])
    receive(channel, inbound("1001"))
    fake_x.latency = 0.5

    def send():
        try:
            send_due_replies()
        finally:
            connection.close()

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 10
    while not fake_x.received and time.monotonic() < deadline:
        time.sleep(0.01)
    # The lease ran out meanwhile and another sender claimed the row.
    OutboxMessage.objects.update(claimed_by="next-owner")
    sender.join()
    row = OutboxMessage.objects.get()
    assert (row.state, row.claimed_by, row.platform_response_id) == (OutboxState.SENDING, "next-owner", "")


def test_discourse_reply_in_doubt_is_found_in_the_users_replies(manager, approver, platform_secrets, fake_discourse):
    forum = platform_channel("discourse", fake_discourse.base_url)
    sunset(manager=manager, approver=approver, channels=[forum])
    fake_discourse.fail_next(502, after_effect=True, path="/posts.json")
    receive(forum, inbound("345", thread="12", customer="77", raw={"post_number": 4, "topic_id": 12}, text="Closing?"))
    send_due_replies()
    assert _retry(OutboxMessage.objects.get()).sent == 1
    (post,) = fake_discourse.posts
    assert OutboxMessage.objects.get().platform_response_id == str(post["id"])
    lookup = fake_discourse.received[1]
    assert (lookup.path, lookup.param("username"), lookup.param("filter")) == ("/user_actions.json", "dusk-bot", "5")
    assert fake_discourse.violations == []


def test_youtube_reply_in_doubt_is_found_under_the_comment(manager, approver, platform_secrets, fake_youtube):
    channel = platform_channel("youtube", fake_youtube.base_url)
    sunset(manager=manager, approver=approver, channels=[channel])
    fake_youtube.add_comment("Ugx1", "hello?", timezone.now())
    fake_youtube.fail_next(503, after_effect=True, path="/youtube/v3/comments")
    receive(channel, inbound("Ugx1", customer="UCcustomer", text="hello?"))
    send_due_replies()
    assert _retry(OutboxMessage.objects.get()).sent == 1
    (reply,) = fake_youtube.replies
    assert OutboxMessage.objects.get().platform_response_id == reply["id"]
    assert fake_youtube.received[1].param("parentId") == "Ugx1"
    assert fake_youtube.violations == []


def test_messenger_reply_in_doubt_is_found_in_the_conversation(manager, approver, platform_secrets, fake_messenger):
    page = platform_channel("messenger", fake_messenger.base_url)
    sunset(manager=manager, approver=approver, channels=[page])
    fake_messenger.fail_next(500, after_effect=True, path="/v19.0/me/messages")
    receive(page, inbound("m_1", thread="PSID1", customer="PSID1", text="Hello?"))
    send_due_replies()
    assert _retry(OutboxMessage.objects.get()).sent == 1
    (sent,) = fake_messenger.messages
    assert OutboxMessage.objects.get().platform_response_id == sent["mid"]
    assert fake_messenger.received[1].param("user_id") == "PSID1"
    assert fake_messenger.violations == []


def test_an_email_refused_at_the_end_of_data_goes_out_once_on_the_retry(
    manager, approver, platform_secrets, smtp_settings
):
    mailbox = platform_channel("email")
    sunset(manager=manager, approver=approver, channels=[mailbox])
    smtp_settings.messages.clear()
    smtp_settings.reject_next_data("451 4.3.0 Try again later")
    receive(mailbox, inbound("<m1@x.example>", customer="a@x.example", handle="a@x.example"))
    assert send_due_replies().retried == 1
    row = OutboxMessage.objects.get()
    assert (row.state, row.platform_response_id, Message.objects.filter(direction="out").count()) == (
        OutboxState.PENDING,
        "",
        0,
    )
    assert smtp_settings.messages == []
    assert _retry(row).sent == 1
    (mail,) = smtp_settings.messages
    row.refresh_from_db()
    assert row.platform_response_id == mail.message["Message-ID"] and row.attempts == 2
