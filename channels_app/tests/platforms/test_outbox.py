"""The outbox sender against real fake-platform servers on 127.0.0.1."""

import threading
import time
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils import timezone

from channels_app.core.textrules import weighted_length
from channels_app.models import (
    AuditEvent,
    AutoReply,
    Conversation,
    Message,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    PhaseKind,
    ReplyCooldown,
    SendBudget,
)
from channels_app.plans.selectors import tracked_redirect_url
from channels_app.plans.services.plans import AutoReplyInput
from channels_app.platforms.services.outbox import (
    backoff_seconds,
    choose_locale,
    render_reply,
    retry_failed_replies,
    send_due_replies,
)
from channels_app.tests.support.factories import ConversationFactory, MessageFactory
from channels_app.tests.support.inbound_helpers import (
    BRAND_ID,
    REPLIES,
    inbound,
    platform_channel,
    receive,
    require_postgresql,
    sunset,
)

pytestmark = pytest.mark.django_db


# --- what goes out --------------------------------------------------------------------------


def test_an_auto_reply_goes_out_as_a_reply_tweet_with_placeholders_filled(retired_x_on_fake_x, fake_x):
    receive(retired_x_on_fake_x, inbound("1001"))
    report = send_due_replies(worker_id="test")
    assert (report.claimed, report.sent) == (1, 1)
    (tweet,) = fake_x.tweets
    row = OutboxMessage.objects.get()
    reference = row.conversation.reference
    assert tweet["in_reply_to"] == "1001"
    assert tweet["text"] == (
        # {redirect_url} is the tracked link, which counts the customer then sends them to the contact page.
        f"Hi Ana Pérez, support moved: call +1 800 555 0100 or visit {tracked_redirect_url(reference)} (ref {reference})."
    )
    (request,) = fake_x.received
    assert request.headers["authorization"] == "Bearer x-bearer-token"
    assert (row.state, row.platform_response_id, row.rendered_text, row.attempts) == (
        OutboxState.SENT,
        tweet["id"],
        tweet["text"],
        1,
    )
    # Our reply is kept as an outbound message: a customer answering it stays in this conversation.
    outbound = Message.objects.get(direction="out")
    assert (outbound.platform_message_id, outbound.conversation_id, outbound.author_id) == (
        tweet["id"],
        row.conversation_id,
        BRAND_ID,
    )
    assert send_due_replies().claimed == 0  # nothing left


def test_the_locale_is_the_platform_field_else_detected_else_the_plan_default(retired_x_on_fake_x, fake_x):
    receive(
        retired_x_on_fake_x,
        inbound("1001", customer="1", lang="fr", text="@brand ok"),  # platform says French
        inbound("1002", customer="2", lang=None, text="Bonjour, pourquoi personne ne répond plus ici depuis hier ?"),
        inbound("1003", customer="3", lang=None, text="ok?"),  # too short to tell: the plan's default
        inbound("1004", customer="4", lang="id", text="@brand halo"),
        inbound("1005", customer="5", lang="es", text="@brand hola"),  # no Spanish reply: the default
    )
    send_due_replies()
    texts = {t["in_reply_to"]: t["text"] for t in fake_x.tweets}
    assert texts["1001"].startswith("Bonjour")
    assert texts["1002"].startswith("Bonjour")
    assert texts["1003"].startswith("Hi ")
    assert texts["1004"].startswith("Halo")
    assert texts["1005"].startswith("Hi ")


def test_choose_locale_matches_regional_variants():
    replies = {"en": "", "pt-BR": "", "fr": ""}
    assert choose_locale(replies, lang="pt", text="", default="en") == "pt-BR"
    assert choose_locale(replies, lang="FR-ca", text="", default="en") == "fr"
    assert choose_locale({"fr": ""}, lang=None, text="ok", default="en") == "fr"  # only one written


def test_a_long_name_is_dropped_before_a_reply_breaks_x_length(retired_x_on_fake_x, fake_x):
    template = "Hi {customer_name}, " + "we moved to the new help centre, " * 7 + "{redirect_url}"
    AutoReply.objects.filter(plan=retired_x_on_fake_x.plan, phase_kind="hard_close", locale="en").update(text=template)
    receive(retired_x_on_fake_x, inbound("1001", name="Maximiliane Oberhausen-Wittgenstein von Hohenberg-Lichtenfels"))
    send_due_replies()
    (tweet,) = fake_x.tweets
    assert weighted_length(tweet["text"]) <= 280
    assert tweet["text"].startswith("Hi, we moved")


def test_a_reply_that_cannot_fit_fails_with_the_reason(retired_x_on_fake_x, fake_x):
    AutoReply.objects.filter(plan=retired_x_on_fake_x.plan, phase_kind="hard_close", locale="en").update(text="x" * 300)
    receive(retired_x_on_fake_x, inbound("1001"))
    report = send_due_replies()
    assert report.failed == 1
    row = OutboxMessage.objects.get()
    assert row.state == OutboxState.FAILED
    assert row.last_error == "reply is 300 weighted characters, X allows 280 (locale en)"
    assert fake_x.received == []
    assert not ReplyCooldown.objects.exists()  # the customer was not answered: no cooldown


def test_render_reply_appends_the_reference_to_a_handoff_notice():
    text = render_reply(
        "We moved: {redirect_url}", {"customer_name": "", "redirect_url": "https://h.example"}, "x", reference="DSK-ABC"
    )
    assert text == "We moved: https://h.example (ref DSK-ABC)"


# --- cooldown -------------------------------------------------------------------------------


def test_one_auto_reply_per_customer_per_cooldown_window(retired_x_on_fake_x, fake_x, settings):
    settings.DUSK_AUTO_REPLY_COOLDOWN = 3600
    t0 = timezone.now()
    receive(retired_x_on_fake_x, inbound("1001"), inbound("1002"), inbound("1003", customer="43"))
    report = send_due_replies(now=t0)
    assert (report.sent, report.skipped) == (2, 1)
    skipped = OutboxMessage.objects.get(state=OutboxState.SKIPPED)
    assert skipped.in_reply_to.platform_message_id == "1002"
    assert skipped.last_error.startswith("cooldown")
    receive(retired_x_on_fake_x, inbound("1004"))
    assert send_due_replies(now=t0 + timedelta(minutes=59)).skipped == 1
    receive(retired_x_on_fake_x, inbound("1005"))
    assert send_due_replies(now=t0 + timedelta(minutes=61)).sent == 1
    assert sorted(t["in_reply_to"] for t in fake_x.tweets) == ["1001", "1003", "1005"]


@pytest.mark.django_db(transaction=True)
def test_two_senders_never_both_answer_one_customer(manager, approver, platform_secrets, fake_x):
    require_postgresql()
    channel = platform_channel("x", fake_x.base_url)
    sunset(manager=manager, approver=approver, channels=[channel])
    for i in range(6):
        receive(channel, inbound(str(1000 + i)))  # one customer, six messages
    barrier = threading.Barrier(3)

    def drain(_):
        barrier.wait()
        try:
            return send_due_replies(batch_size=1)  # one row per claim: maximal interleaving
        finally:
            connection.close()

    threads = []
    reports = []
    for i in range(3):
        thread = threading.Thread(target=lambda i=i: reports.append(drain(i)))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    assert sum(r.sent for r in reports) == 1
    assert sum(r.skipped for r in reports) == 5
    assert len(fake_x.tweets) == 1


def test_a_failed_reply_frees_the_cooldown(retired_x_on_fake_x, fake_x):
    fake_x.fail_next(403, body={"detail": "You are not allowed to create a Tweet with duplicate content."})
    receive(retired_x_on_fake_x, inbound("1001"))
    assert send_due_replies().failed == 1
    row = OutboxMessage.objects.get()
    assert "HTTP 403" in row.last_error and "duplicate content" in row.last_error
    receive(retired_x_on_fake_x, inbound("1002"))
    assert send_due_replies().sent == 1


# --- loop guard -------------------------------------------------------------------------------


def test_the_channel_never_answers_its_own_account(retired_x_on_fake_x, fake_x):
    receive(retired_x_on_fake_x, inbound("1001", customer=BRAND_ID, handle="brand"))
    report = send_due_replies()
    assert report.skipped == 1
    assert OutboxMessage.objects.get().last_error == "loop guard: the message comes from the channel's own account"
    assert fake_x.received == []


def test_machine_mail_is_never_answered(manager, approver, platform_secrets, smtp_settings):
    mailbox = platform_channel("email")
    sunset(manager=manager, approver=approver, channels=[mailbox])
    smtp_settings.messages.clear()  # the cutover's own notifications
    raw = {"subject": "Automatic reply", "parsed_headers": {"auto-submitted": "auto-replied"}}
    receive(mailbox, inbound("<ooo@x.example>", customer="bob@x.example", handle="bob@x.example", raw=raw))
    assert send_due_replies().skipped == 1
    assert "Auto-Submitted: auto-replied" in OutboxMessage.objects.get().last_error
    assert smtp_settings.messages == []


# --- rate limits, retries, failures -------------------------------------------------------------


def test_sends_are_paced_to_the_channel_rate_limit(retired_x_on_fake_x, fake_x, settings):
    settings.DUSK_OUTBOX_RATE_HORIZON = 1.0
    retired_x_on_fake_x.rate_limit_per_minute = 60  # one per second
    retired_x_on_fake_x.save()
    receive(retired_x_on_fake_x, *[inbound(str(1000 + i), customer=str(i)) for i in range(5)])
    started = time.monotonic()
    report = send_due_replies()
    assert (report.sent, report.postponed) == (2, 3)  # slots at +0 s and +1 s fit the horizon
    assert time.monotonic() - started >= 0.9  # the second send waited for its slot
    waiting = list(OutboxMessage.objects.filter(state=OutboxState.PENDING).order_by("next_attempt_at"))
    assert [r.last_error for r in waiting] == [f"rate limit: 60/min on {retired_x_on_fake_x.name}"] * 3
    times = [r.next_attempt_at for r in waiting]
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(times, times[1:], strict=False)]
    assert gaps == pytest.approx([1.0, 1.0], abs=0.01)
    # Until the budget frees up, the channel's rows are not even claimed.
    assert send_due_replies().claimed == 0


@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_holds_across_concurrent_senders(manager, approver, platform_secrets, fake_x, settings):
    require_postgresql()
    settings.DUSK_OUTBOX_RATE_HORIZON = 1.0
    channel = platform_channel("x", fake_x.base_url, rate_limit_per_minute=60)
    sunset(manager=manager, approver=approver, channels=[channel])
    receive(channel, *[inbound(str(1000 + i), customer=str(i)) for i in range(8)])
    barrier = threading.Barrier(4)
    reports = []

    def drain():
        barrier.wait()
        try:
            reports.append(send_due_replies(batch_size=2))
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.sent for r in reports) == 2 == len(fake_x.tweets)


def test_429_waits_for_retry_after_and_holds_the_whole_channel(retired_x_on_fake_x, fake_x):
    fake_x.rate_limit_next("30")
    receive(retired_x_on_fake_x, inbound("1001"))
    before = timezone.now()
    report = send_due_replies()
    assert report.retried == 1
    row = OutboxMessage.objects.get()
    assert row.state == OutboxState.PENDING and row.attempts == 1
    assert row.next_attempt_at >= before + timedelta(seconds=30)
    assert "HTTP 429" in row.last_error
    assert SendBudget.objects.get(pk=retired_x_on_fake_x.pk).next_slot_at >= before + timedelta(seconds=29)
    # Another customer's message waits too: the platform said the whole account must.
    receive(retired_x_on_fake_x, inbound("1002", customer="43"))
    assert send_due_replies().claimed == 0
    # Thirty seconds later both go out.
    SendBudget.objects.filter(pk=retired_x_on_fake_x.pk).update(next_slot_at=timezone.now())
    later = send_due_replies(now=timezone.now() + timedelta(seconds=31))
    assert later.sent == 2
    assert OutboxMessage.objects.get(in_reply_to__platform_message_id="1001").attempts == 2


def test_5xx_backs_off_exponentially_then_gives_up(retired_x_on_fake_x, fake_x, settings):
    settings.DUSK_OUTBOX_MAX_ATTEMPTS = 4
    settings.DUSK_OUTBOX_BACKOFF_BASE = 10
    fake_x.fail_next(503, times=4, path="/2/tweets")
    receive(retired_x_on_fake_x, inbound("1001"))
    clock = timezone.now()
    delays = []
    for _ in range(3):
        send_due_replies(now=clock)
        row = OutboxMessage.objects.get()
        assert row.state == OutboxState.PENDING
        delays.append((row.next_attempt_at - timezone.now()).total_seconds())
        clock = row.next_attempt_at + timedelta(seconds=1)
    assert 7 <= delays[0] <= 12.5 and 15 <= delays[1] <= 24.5 and 31 <= delays[2] <= 48.5
    send_due_replies(now=clock)
    row = OutboxMessage.objects.get()
    assert row.state == OutboxState.FAILED and row.attempts == 4
    assert row.last_error.startswith("gave up after 4 attempts: HTTP 503")
    # A 5xx may come after X posted the reply: each retry first searched for it.
    assert [r.method for r in fake_x.received] == ["POST", "GET", "POST", "GET", "POST", "GET", "POST"]
    assert row.in_doubt_since is not None


def test_backoff_never_undercuts_retry_after(settings):
    settings.DUSK_OUTBOX_BACKOFF_BASE = 5
    settings.DUSK_OUTBOX_BACKOFF_MAX = 60
    assert backoff_seconds(1, 900) == 900
    assert 48 <= backoff_seconds(10, None) <= 72  # capped
    assert 4 <= backoff_seconds(1, None) <= 6


def test_a_missing_token_fails_visibly_and_a_manager_can_queue_it_again(
    retired_x_on_fake_x, fake_x, monkeypatch, manager, viewer
):
    monkeypatch.delenv("DUSK_CHANNEL_TEST_X_TOKEN")
    receive(retired_x_on_fake_x, inbound("1001"))
    assert send_due_replies().failed == 1
    row = OutboxMessage.objects.get()
    assert (
        row.last_error
        == f"no API token for {retired_x_on_fake_x.name}: environment variable DUSK_CHANNEL_TEST_X_TOKEN is not set"
    )
    with pytest.raises(PermissionDenied):
        retry_failed_replies(actor=viewer, channel=retired_x_on_fake_x)
    monkeypatch.setenv("DUSK_CHANNEL_TEST_X_TOKEN", "x-bearer-token")
    assert retry_failed_replies(actor=manager, channel=retired_x_on_fake_x) == 1
    assert AuditEvent.objects.filter(action="outbox.retried").count() == 1
    assert send_due_replies().sent == 1


def test_rows_left_sending_by_a_dead_worker_are_sent(retired_x_on_fake_x, fake_x, settings):
    receive(retired_x_on_fake_x, inbound("1001"))
    OutboxMessage.objects.update(
        state=OutboxState.SENDING, claimed_at=timezone.now() - timedelta(minutes=10), claimed_by="dead"
    )
    assert send_due_replies().sent == 1


def test_a_phase_without_its_auto_reply_is_skipped_with_the_reason(manager, approver, platform_secrets, fake_x):
    channel = platform_channel("x", fake_x.base_url)
    replies = [r for r in REPLIES if r.phase_kind != "notice"]
    sunset(manager=manager, approver=approver, channels=[channel], until=PhaseKind.NOTICE, replies=replies)
    receive(channel, inbound("1001"))
    assert send_due_replies().skipped == 1
    assert OutboxMessage.objects.get().last_error == "the plan has no notice auto-reply"


# --- hand-off notices and the other platforms ---------------------------------------------------


def test_handoff_notices_from_the_cutover_go_out_with_the_reference(manager, approver, platform_secrets, fake_x):
    channel = platform_channel("x", fake_x.base_url)
    receive(channel, inbound("1001", lang="fr", text="Bonjour, ma commande ?"))  # active: people answer
    conversation = Conversation.objects.get()
    sunset(manager=manager, approver=approver, channels=[channel])
    row = OutboxMessage.objects.get()
    assert row.kind == OutboxKind.HANDOFF
    assert send_due_replies().sent == 1
    (tweet,) = fake_x.tweets
    assert tweet["in_reply_to"] == "1001"
    assert tweet["text"].startswith("Bonjour Ana Pérez")
    assert conversation.reference in tweet["text"]


def test_a_handoff_on_a_channel_dusk_cannot_write_to_is_skipped(manager, approver, platform_secrets):
    phone = platform_channel("phone")
    ConversationFactory(channel=phone)
    sunset(manager=manager, approver=approver, channels=[phone])
    assert send_due_replies().skipped == 1
    assert OutboxMessage.objects.get().last_error == "Dusk cannot send on Phone channels"


def test_discourse_replies_in_the_topic_to_the_post(manager, approver, platform_secrets, fake_discourse):
    forum = platform_channel("discourse", fake_discourse.base_url)
    sunset(manager=manager, approver=approver, channels=[forum])
    post = {"post_number": 4, "topic_id": 12}
    receive(forum, inbound("345", thread="12", customer="77", raw=post, text="Is the forum closing?"))
    assert send_due_replies().sent == 1
    (request,) = fake_discourse.received
    body = request.json()
    assert (body["topic_id"], body["reply_to_post_number"]) == (12, 4)
    assert request.headers["api-key"] == "discourse-key" and request.headers["api-username"] == "dusk-bot"
    assert OutboxMessage.objects.get().platform_response_id == str(fake_discourse.posts[0]["id"])


def test_youtube_replies_under_the_comment(manager, approver, platform_secrets, fake_youtube):
    channel = platform_channel("youtube", fake_youtube.base_url)
    sunset(manager=manager, approver=approver, channels=[channel])
    fake_youtube.add_comment("Ugx1", "hello?", timezone.now())
    receive(channel, inbound("Ugx1", customer="UCcustomer", text="hello?"))
    assert send_due_replies().sent == 1
    (reply,) = fake_youtube.replies
    assert reply["snippet"]["parentId"] == "Ugx1"
    assert fake_youtube.received[0].headers["authorization"] == "Bearer yt-oauth-token"


def test_messenger_answers_the_sender(manager, approver, platform_secrets, fake_messenger):
    page = platform_channel("messenger", fake_messenger.base_url)
    sunset(manager=manager, approver=approver, channels=[page])
    receive(page, inbound("m_1", thread="PSID1", customer="PSID1", text="Hello?"))
    assert send_due_replies().sent == 1
    (sent,) = fake_messenger.messages
    assert sent["to"] == "PSID1"
    assert OutboxMessage.objects.get().platform_response_id == sent["mid"]


def test_email_answers_in_the_thread_through_smtp(manager, approver, platform_secrets, smtp_settings):
    mailbox = platform_channel("email")
    sunset(manager=manager, approver=approver, channels=[mailbox])
    smtp_settings.messages.clear()  # the cutover's own notifications
    raw = {"subject": "Ayuda", "parsed_headers": {"references": "<root@x.example>"}}
    receive(
        mailbox,
        inbound("<m1@x.example>", thread="<root@x.example>", customer="ana@x.example", handle="Ana@x.example", raw=raw),
    )
    assert send_due_replies().sent == 1
    (mail,) = smtp_settings.messages
    message = mail.message
    row = OutboxMessage.objects.get()
    assert mail.rcpt_tos == ["Ana@x.example"]
    assert mail.mail_from == "support@brand.example"
    assert message["Subject"] == "Re: Ayuda"
    assert message["In-Reply-To"] == "<m1@x.example>"
    assert message["References"] == "<root@x.example> <m1@x.example>"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["Message-ID"] == row.platform_response_id == f"<dusk-reply-{row.pk}@brand.example>"
    assert row.conversation.reference in message.get_content()


def test_a_refused_recipient_fails_and_a_greylisted_one_retries(manager, approver, platform_secrets, smtp_settings):
    mailbox = platform_channel("email")
    sunset(manager=manager, approver=approver, channels=[mailbox])
    smtp_settings.reject_next_rcpt("550 5.1.1 No such user")
    receive(mailbox, inbound("<m1@x.example>", customer="a@x.example", handle="a@x.example"))
    assert send_due_replies().failed == 1
    assert "550" in OutboxMessage.objects.get().last_error
    smtp_settings.reject_next_data("451 4.3.0 Try again later")
    receive(mailbox, inbound("<m2@x.example>", customer="b@x.example", handle="b@x.example"))
    assert send_due_replies().retried == 1


def test_the_senders_bookkeeping_is_listed_read_only_in_the_admin(retired_x_on_fake_x, fake_x, admin_client):
    receive(retired_x_on_fake_x, inbound("1001"))
    send_due_replies()
    for name in ("replycooldown", "sendbudget"):
        response = admin_client.get(f"/admin/channels_app/{name}/")
        assert response.status_code == 200
        assert retired_x_on_fake_x.name in response.content.decode()
    assert admin_client.get("/admin/channels_app/replycooldown/add/").status_code == 403
    page = admin_client.get(f"/admin/channels_app/channel/{retired_x_on_fake_x.pk}/change/").content.decode()
    assert 'name="poll_high_water"' not in page  # shown, not editable


def test_an_orphan_reply_joins_the_moved_conversation_and_gets_its_reference(
    manager, approver, platform_secrets, fake_x
):
    """A customer answers an old thread after the hard close: the reply is
    attached to the conversation the cutover moved, and the auto-reply gives
    that conversation's reference and the (tracked) redirect."""
    channel = platform_channel("x", fake_x.base_url)
    old = ConversationFactory(channel=channel, platform_thread_id="7001", customer_id="42", customer_name="Ana")
    MessageFactory(
        channel=channel,
        conversation=old,
        platform_message_id="7001",
        direction="in",
        author_id="42",
        text="@brand my order?",
        created_at=timezone.now() - timedelta(days=2),
    )
    sunset(manager=manager, approver=approver, channels=[channel])
    old.refresh_from_db()
    assert old.state == "redirected"  # moved by the cutover, with its hand-off notice
    send_due_replies()  # the hand-off notice goes out first
    fake_x.received.clear()
    ReplyCooldown.objects.all().delete()  # the orphan reply comes after the cooldown window

    receive(channel, inbound("7002", thread="7002", in_reply_to="7001", text="@brand still nothing"))

    reply_row = Message.objects.get(channel=channel, platform_message_id="7002")
    assert reply_row.conversation_id == old.pk  # attached to the moved conversation, not a new one
    assert Conversation.objects.filter(channel=channel).count() == 1
    send_due_replies()
    (request,) = fake_x.received
    tweet = request.json()
    assert tweet["reply"]["in_reply_to_tweet_id"] == "7002"
    assert old.reference in tweet["text"]
    assert tracked_redirect_url(old.reference) in tweet["text"]


FRENCH_MONTHS = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]
INDONESIAN_MONTHS = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
]
ENGLISH_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def test_the_date_in_a_french_reply_is_written_in_french_on_x(manager, approver, platform_secrets, fake_x):
    replies = [
        *REPLIES[:2],  # notice and soft close
        AutoReplyInput("hard_close", "en", "Hi {customer_name}, this channel closed on {date}."),
        AutoReplyInput("hard_close", "fr", "Bonjour {customer_name}, ce canal est fermé depuis le {date}."),
        AutoReplyInput("hard_close", "id", "Halo {customer_name}, kanal ini ditutup pada {date}."),
    ]
    channel = platform_channel("x", fake_x.base_url)
    plan = sunset(manager=manager, approver=approver, channels=[channel], replies=replies)
    day = plan.phases.get(kind=PhaseKind.HARD_CLOSE).local_date
    receive(
        channel,
        inbound("1001", customer="1", lang="fr", text="@brand allô"),
        inbound("1002", customer="2", lang="id", text="@brand halo"),
        inbound("1003", customer="3", lang="en", text="@brand hello"),
    )
    assert send_due_replies(worker_id="test").sent == 3
    # What X received, as X received it.
    texts = {t["in_reply_to"]: t["text"] for t in fake_x.tweets}
    assert (
        texts["1001"]
        == f"Bonjour Ana Pérez, ce canal est fermé depuis le {day.day} {FRENCH_MONTHS[day.month - 1]} {day.year}."
    )
    assert (
        texts["1002"]
        == f"Halo Ana Pérez, kanal ini ditutup pada {day.day} {INDONESIAN_MONTHS[day.month - 1]} {day.year}."
    )
    assert (
        texts["1003"] == f"Hi Ana Pérez, this channel closed on {day.day} {ENGLISH_MONTHS[day.month - 1]} {day.year}."
    )
