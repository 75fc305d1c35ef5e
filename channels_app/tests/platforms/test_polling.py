"""The pollers against real fakes: YouTube (high-water mark, boundary ids, paging) and an IMAP
mailbox (UID mark, UIDVALIDITY, read-only fetches, imaps:// and STARTTLS with certificate
verification, errors)."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from channels_app.core.mailbox import Mailbox, parse_mailbox_url
from channels_app.directory.services import register_channel
from channels_app.models import Channel, Message, OutboxMessage
from channels_app.platforms.adapters import imap as imap_adapter
from channels_app.platforms.adapters import youtube
from channels_app.platforms.selectors import email_channels_to_poll, youtube_channels_to_poll
from channels_app.platforms.services.outbox import send_due_replies
from channels_app.platforms.services.polling import poll_email_channel, poll_youtube_channel
from channels_app.tests.support.fakeplatforms import (
    FakeIMAP,
    free_port,
    google_error,
    self_signed_certificate,
)
from channels_app.tests.support.inbound_helpers import WEBHOOK_SECRET, mail, platform_channel, sunset

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel(platform_secrets, fake_youtube):
    channel = platform_channel("youtube", fake_youtube.base_url)
    # Registered an hour ago: comments from before then were never Dusk's to answer.
    Channel.objects.filter(pk=channel.pk).update(created_at=timezone.now() - timedelta(hours=1))
    channel.refresh_from_db()
    return channel


def poll(channel):
    return poll_youtube_channel(channel_id=channel.pk)


def stored_ids():
    return sorted(Message.objects.values_list("platform_message_id", flat=True))


def test_new_comments_are_stored_once(channel, fake_youtube):
    now = timezone.now()
    for i in range(3):
        fake_youtube.add_comment(f"c{i}", f"comment {i}", now - timedelta(minutes=10 - i))
    assert poll(channel).stored == 3
    assert stored_ids() == ["c0", "c1", "c2"]
    assert poll(channel).stored == 0  # nothing new: nothing stored, nothing read twice
    fake_youtube.add_comment("c3", "and another", now)
    result = poll(channel)
    assert (result.stored, result.duplicates) == (1, 0)
    channel.refresh_from_db()
    assert channel.poll_high_water == now.replace(microsecond=0)
    assert channel.poll_boundary_ids == ["c3"]
    assert channel.poll_error == ""
    request = fake_youtube.received[-1]
    assert request.param("allThreadsRelatedToChannelId") == "UCfakechannel0000000000"
    assert request.headers["authorization"] == "Bearer yt-oauth-token"


def test_comments_in_the_same_second_as_the_mark_are_neither_missed_nor_repeated(channel, fake_youtube):
    second = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    fake_youtube.add_comment("a", "first", second)
    fake_youtube.add_comment("b", "second", second)
    assert poll(channel).stored == 2
    fake_youtube.add_comment("c", "same second, posted after the poll", second)
    fake_youtube.add_comment("d", "a second later", second + timedelta(seconds=1))
    result = poll(channel)
    assert (result.stored, result.duplicates) == (2, 0)
    assert stored_ids() == ["a", "b", "c", "d"]


def test_pages_are_followed_down_to_the_mark(channel, fake_youtube):
    fake_youtube.page_size = 2
    now = timezone.now()
    for i in range(5):
        fake_youtube.add_comment(f"c{i}", f"comment {i}", now - timedelta(minutes=30 - i))
    assert poll(channel).stored == 5
    assert [r.param("pageToken") for r in fake_youtube.received] == [None, "p2", "p4"]
    fake_youtube.add_comment("c5", "new", now)
    fake_youtube.received.clear()
    assert poll(channel).stored == 1
    # Page 1 is c5 and c4 (c4 sits on the mark, already seen); page 2 starts older: stop there.
    assert [r.param("pageToken") for r in fake_youtube.received] == [None, "p2"]


def test_comments_from_before_registration_and_our_own_are_not_stored(channel, fake_youtube):
    fake_youtube.add_comment("old", "from last year", timezone.now() - timedelta(days=300))
    fake_youtube.add_comment("own", "our pinned comment", timezone.now(), author_channel_id=channel.platform_account_id)
    fake_youtube.add_comment("new", "a customer", timezone.now())
    poll(channel)
    assert stored_ids() == ["new"]


def test_a_retired_channel_queues_replies_for_polled_comments(channel, fake_youtube, manager, approver):
    sunset(manager=manager, approver=approver, channels=[channel])
    fake_youtube.add_comment("c1", "why are comments closed?", timezone.now())
    assert poll(channel).replies_queued == 1
    assert send_due_replies().sent == 1
    assert fake_youtube.replies[0]["snippet"]["parentId"] == "c1"
    assert OutboxMessage.objects.get().platform_response_id == fake_youtube.replies[0]["id"]


def test_a_failed_poll_is_recorded_and_moves_nothing(channel, fake_youtube):
    fake_youtube.add_comment("c1", "hello", timezone.now())
    fake_youtube.fail_next(403, body=google_error(403, "quotaExceeded"))
    assert poll(channel).stored == 0
    channel.refresh_from_db()
    assert "poll failed: HTTP 403" in channel.poll_error and "quotaExceeded" in channel.poll_error
    assert channel.poll_high_water is None and channel.polled_at is None
    assert poll(channel).stored == 1  # the next poll catches up and clears the error
    channel.refresh_from_db()
    assert channel.poll_error == ""


def test_a_missing_token_is_recorded_on_the_channel(channel, monkeypatch):
    monkeypatch.delenv("DUSK_CHANNEL_TEST_YOUTUBE_TOKEN")
    poll(channel)
    channel.refresh_from_db()
    assert channel.poll_error == "no API token: environment variable DUSK_CHANNEL_TEST_YOUTUBE_TOKEN is not set"


def test_a_poll_overtaken_by_another_stores_nothing(channel, fake_youtube, monkeypatch):
    fake_youtube.add_comment("c1", "hello", timezone.now())
    real = youtube.poll_new_comments

    def another_poller_commits_meanwhile(*args, **kwargs):
        result = real(*args, **kwargs)
        Channel.objects.filter(pk=channel.pk).update(polled_at=timezone.now())
        return result

    monkeypatch.setattr(youtube, "poll_new_comments", another_poller_commits_meanwhile)
    assert poll(channel).stored == 0
    assert not Message.objects.exists()


def test_too_many_pages_is_said_on_the_channel(channel, fake_youtube, settings):
    settings.DUSK_YOUTUBE_MAX_PAGES = 2
    fake_youtube.page_size = 1
    for i in range(3):
        fake_youtube.add_comment(f"c{i}", "hello", timezone.now() - timedelta(minutes=i))
    assert poll(channel).stored == 2
    channel.refresh_from_db()
    assert channel.poll_error.startswith("more than 2 pages of new comments")


def test_only_configured_youtube_channels_are_polled(channel, platform_secrets):
    platform_channel("youtube", api_token_env="")
    platform_channel("x")
    assert youtube_channels_to_poll() == [channel.pk]


# --- IMAP mailboxes --------------------------------------------------------------------------


@pytest.fixture
def mailbox(platform_secrets, fake_imap, monkeypatch):
    monkeypatch.setenv("DUSK_CHANNEL_TEST_IMAP_PASSWORD", fake_imap.password)
    channel = platform_channel("email", fake_imap.url(), api_token_env="DUSK_CHANNEL_TEST_IMAP_PASSWORD")
    Channel.objects.filter(pk=channel.pk).update(created_at=timezone.now() - timedelta(hours=1))
    channel.refresh_from_db()
    return channel


def poll_mail(channel):
    return poll_email_channel(channel_id=channel.pk)


def test_new_mail_is_stored_and_answered_once_after_the_sunset(mailbox, fake_imap, manager, approver):
    sunset(manager=manager, approver=approver, channels=[mailbox])
    fake_imap.deliver(mail("<m1@example.com>", "Bonjour, où est le support ?", content_language="fr"))
    result = poll_mail(mailbox)
    assert (result.stored, result.replies_queued) == (1, 1)
    message = Message.objects.get()
    assert (message.platform_message_id, message.author_id, message.lang) == (
        "<m1@example.com>",
        "ana@example.com",
        "fr",
    )
    assert message.text == "Bonjour, où est le support ?"
    assert message.meta["subject"] == "Help"
    assert OutboxMessage.objects.get().in_reply_to_id == message.pk
    assert poll_mail(mailbox).stored == 0
    assert OutboxMessage.objects.count() == 1
    # Read-only: the mailbox was EXAMINEd, fetched with BODY.PEEK[], nothing flagged or removed.
    assert fake_imap.seen() == []
    assert 'EXAMINE "INBOX"' in fake_imap.received
    assert not [line for line in fake_imap.received if line.split()[0] in ("STORE", "EXPUNGE", "SELECT")]


def test_polling_again_reads_only_mail_that_arrived_since(mailbox, fake_imap):
    fake_imap.deliver(mail("<m1@example.com>"))
    fake_imap.deliver(mail("<m2@example.com>"))
    assert poll_mail(mailbox).stored == 2
    mailbox.refresh_from_db()
    assert (mailbox.poll_uid_validity, mailbox.poll_last_uid, mailbox.poll_error) == (fake_imap.uid_validity, 2, "")
    fake_imap.received.clear()
    # Nothing new: the server still answers UID 3:* with message 2, which is not read again.
    assert poll_mail(mailbox).stored == 0
    assert "UID SEARCH UID 3:*" in fake_imap.received
    assert not [line for line in fake_imap.received if line.startswith("UID FETCH")]
    fake_imap.deliver(mail("<m3@example.com>"))
    result = poll_mail(mailbox)
    assert (result.stored, result.duplicates) == (1, 0)
    assert stored_ids() == ["<m1@example.com>", "<m2@example.com>", "<m3@example.com>"]
    assert "UID FETCH 3 (UID INTERNALDATE BODY.PEEK[])" in fake_imap.received


def test_two_polls_at_once_store_each_mail_once(mailbox, fake_imap, monkeypatch):
    fake_imap.deliver(mail("<m1@example.com>"))
    real = imap_adapter.poll_new_mail
    others = []

    def another_poll_runs_meanwhile(*args, **kwargs):
        result = real(*args, **kwargs)
        if not others:
            others.append("running")
            others[0] = poll_mail(mailbox)  # reads the same mail, commits first
        return result

    monkeypatch.setattr(imap_adapter, "poll_new_mail", another_poll_runs_meanwhile)
    assert poll_mail(mailbox).stored == 0  # overtaken: rolled back, nothing stored twice
    assert others[0].stored == 1
    assert stored_ids() == ["<m1@example.com>"]


def test_a_new_uidvalidity_rereads_the_mailbox_without_answering_twice(mailbox, fake_imap, manager, approver):
    sunset(manager=manager, approver=approver, channels=[mailbox])
    fake_imap.deliver(mail("<m1@example.com>"))
    assert poll_mail(mailbox).replies_queued == 1
    fake_imap.change_uid_validity()  # the mailbox was rebuilt: UID 1 is m1 again, in a new epoch
    fake_imap.deliver(mail("<m2@example.com>", sender="bo@example.com"))
    result = poll_mail(mailbox)
    assert (result.stored, result.duplicates, result.replies_queued) == (1, 1, 1)
    assert OutboxMessage.objects.count() == 2
    mailbox.refresh_from_db()
    assert (mailbox.poll_uid_validity, mailbox.poll_last_uid) == (fake_imap.uid_validity, 2)


def test_mail_seen_by_the_webhook_and_the_mailbox_is_stored_once(mailbox, fake_imap, client, manager, approver):
    sunset(manager=manager, approver=approver, channels=[mailbox])
    auth = base64.b64encode(f"inbound:{WEBHOOK_SECRET}".encode()).decode()
    fields = {
        "from": "Ana Lima <ana@example.com>",
        "subject": "Help",
        "text": "Where did support go?",
        "headers": "Message-ID: <both@example.com>\nDate: Mon, 01 Dec 2025 10:00:00 +0000\n",
    }
    response = client.post(f"/hooks/{mailbox.pk}/email", fields, headers={"Authorization": f"Basic {auth}"})
    assert response.status_code == 200, response.content
    fake_imap.deliver(mail("<both@example.com>"))
    result = poll_mail(mailbox)
    assert (result.stored, result.duplicates) == (0, 1)
    assert Message.objects.count() == 1 and OutboxMessage.objects.count() == 1


def test_a_refused_login_is_recorded_and_moves_nothing(mailbox, fake_imap):
    fake_imap.deliver(mail("<m1@example.com>"))
    fake_imap.refuse_login = True
    assert poll_mail(mailbox).stored == 0
    mailbox.refresh_from_db()
    assert mailbox.poll_error.startswith("poll failed: login as support@brand.example refused")
    assert "AUTHENTICATIONFAILED" in mailbox.poll_error
    assert (mailbox.poll_uid_validity, mailbox.poll_last_uid, mailbox.polled_at) == (None, None, None)
    assert not Message.objects.exists()
    fake_imap.refuse_login = False
    assert poll_mail(mailbox).stored == 1  # the next poll catches up and clears the error
    mailbox.refresh_from_db()
    assert mailbox.poll_error == ""


def test_a_wrong_password_is_refused_by_the_server(mailbox, fake_imap, monkeypatch):
    monkeypatch.setenv("DUSK_CHANNEL_TEST_IMAP_PASSWORD", "not-it")
    poll_mail(mailbox)
    mailbox.refresh_from_db()
    assert "refused" in mailbox.poll_error
    assert fake_imap.violations == ["LOGIN with wrong credentials: ['support@brand.example', 'not-it']"]
    fake_imap.violations.clear()


def test_a_timeout_a_dropped_connection_and_a_closed_port_are_recorded(mailbox, fake_imap, settings):
    fake_imap.deliver(mail("<m1@example.com>"))
    settings.DUSK_IMAP_TIMEOUT = 0.3
    fake_imap.stall = 1.0
    poll_mail(mailbox)
    mailbox.refresh_from_db()
    assert mailbox.poll_error.startswith("poll failed:") and "timed out" in mailbox.poll_error
    fake_imap.stall = 0
    fake_imap.drop_after = "UID FETCH"
    poll_mail(mailbox)
    mailbox.refresh_from_db()
    assert mailbox.poll_error.startswith("poll failed:")
    Channel.objects.filter(pk=mailbox.pk).update(api_base_url=f"imap://127.0.0.1:{free_port()}/INBOX?tls=none")
    poll_mail(mailbox)
    mailbox.refresh_from_db()
    assert "connection refused" in mailbox.poll_error
    assert not Message.objects.exists() and mailbox.polled_at is None


def test_a_missing_mailbox_or_password_is_recorded(mailbox, fake_imap, monkeypatch):
    Channel.objects.filter(pk=mailbox.pk).update(api_base_url=fake_imap.url("Support"))
    poll_mail(mailbox)
    mailbox.refresh_from_db()
    assert "opening mailbox Support refused: NO" in mailbox.poll_error
    monkeypatch.delenv("DUSK_CHANNEL_TEST_IMAP_PASSWORD")
    poll_mail(mailbox)
    mailbox.refresh_from_db()
    assert mailbox.poll_error == "no mailbox password: environment variable DUSK_CHANNEL_TEST_IMAP_PASSWORD is not set"


def test_plain_imap_insists_on_starttls(mailbox, fake_imap):
    Channel.objects.filter(pk=mailbox.pk).update(api_base_url=f"imap://127.0.0.1:{fake_imap.port}/INBOX")
    poll_mail(mailbox)
    mailbox.refresh_from_db()
    assert "TLS not supported by server" in mailbox.poll_error
    assert fake_imap.logins == 0  # the password never went out in clear


@pytest.fixture(scope="session")
def certificates(tmp_path_factory):
    """Throwaway self-signed certificates: one for the fake's address, one for another host."""
    directory = tmp_path_factory.mktemp("imap-tls")
    return {
        "local": self_signed_certificate(directory, "localhost", "127.0.0.1", stem="local"),
        "other": self_signed_certificate(directory, "imap.other.example", stem="other"),
    }


@pytest.fixture
def tls_mailbox(mailbox, certificates):
    """serve(tls, certificate): a FakeIMAP speaking TLS ("implicit" or "starttls") with that
    certificate, the mailbox channel pointed at it."""
    servers = []

    def serve(tls, certificate="local"):
        fake = FakeIMAP(tls=tls, certificate=certificates[certificate]).start()
        servers.append(fake)
        Channel.objects.filter(pk=mailbox.pk).update(api_base_url=fake.url())
        return fake

    yield serve
    for fake in servers:
        fake.stop()
        assert fake.violations == [], fake.violations


def test_imaps_mail_is_stored_and_answered(tls_mailbox, mailbox, certificates, settings, manager, approver):
    settings.DUSK_IMAP_CA_FILE = str(certificates["local"][0])
    fake = tls_mailbox("implicit")
    assert fake.url().startswith("imaps://127.0.0.1:")
    sunset(manager=manager, approver=approver, channels=[mailbox])  # the preflight logs in too
    before = (fake.tls_connections, fake.logins)
    fake.deliver(mail("<tls@example.com>"))
    result = poll_mail(mailbox)
    assert (result.stored, result.replies_queued) == (1, 1)
    mailbox.refresh_from_db()
    assert mailbox.poll_error == ""
    assert stored_ids() == ["<tls@example.com>"]
    assert OutboxMessage.objects.get().in_reply_to.platform_message_id == "<tls@example.com>"
    assert (fake.tls_connections - before[0], fake.logins - before[1]) == (1, 1)  # one session per poll


def test_starttls_upgrades_before_the_login(tls_mailbox, mailbox, certificates, settings):
    settings.DUSK_IMAP_CA_FILE = str(certificates["local"][0])
    fake = tls_mailbox("starttls")
    assert fake.url() == f"imap://127.0.0.1:{fake.port}/INBOX"
    fake.deliver(mail("<starttls@example.com>"))
    assert poll_mail(mailbox).stored == 1
    mailbox.refresh_from_db()
    assert mailbox.poll_error == ""
    assert stored_ids() == ["<starttls@example.com>"]
    commands = [line.split()[0] for line in fake.received]
    assert commands.index("STARTTLS") < commands.index("LOGIN")
    assert (fake.tls_connections, fake.logins) == (1, 1)
    # No LOGIN in clear (the fake records one as a violation, checked when it stops).
    assert fake.violations == []


def test_the_fake_catches_a_login_in_clear(tls_mailbox, mailbox):
    # What the STARTTLS test relies on: a client that skips STARTTLS (tls=none, to loopback) is
    # caught by the fake before the credentials are checked.
    fake = tls_mailbox("starttls")
    Channel.objects.filter(pk=mailbox.pk).update(api_base_url=f"{fake.url()}?tls=none")
    assert poll_mail(mailbox).stored == 0
    mailbox.refresh_from_db()
    assert "PRIVACYREQUIRED" in mailbox.poll_error
    assert fake.violations == ["LOGIN in clear text on a server that requires TLS"]
    fake.violations.clear()


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_an_untrusted_certificate_is_refused(tls_mailbox, mailbox, settings, tls):
    settings.DUSK_IMAP_CA_FILE = ""  # the system's CAs only: the self-signed certificate is unknown
    fake = tls_mailbox(tls)
    fake.deliver(mail("<m1@example.com>"))
    assert poll_mail(mailbox).stored == 0
    mailbox.refresh_from_db()
    assert mailbox.poll_error.startswith("poll failed: cannot connect to 127.0.0.1")
    assert "certificate could not be verified" in mailbox.poll_error
    assert (fake.tls_connections, fake.logins) == (0, 0)
    assert not Message.objects.exists() and mailbox.polled_at is None


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_a_certificate_for_another_host_is_refused(tls_mailbox, mailbox, certificates, settings, tls):
    settings.DUSK_IMAP_CA_FILE = str(certificates["other"][0])  # trusted, but not for 127.0.0.1
    fake = tls_mailbox(tls, "other")
    fake.deliver(mail("<m1@example.com>"))
    assert poll_mail(mailbox).stored == 0
    mailbox.refresh_from_db()
    assert "certificate could not be verified" in mailbox.poll_error
    assert "mismatch, certificate is not valid for '127.0.0.1'" in mailbox.poll_error
    assert (fake.tls_connections, fake.logins) == (0, 0)
    assert not Message.objects.exists() and mailbox.polled_at is None


def test_an_unreadable_ca_bundle_is_recorded(mailbox, fake_imap, settings, tmp_path):
    settings.DUSK_IMAP_CA_FILE = str(tmp_path / "missing.pem")
    fake_imap.deliver(mail("<m1@example.com>"))
    assert poll_mail(mailbox).stored == 0
    mailbox.refresh_from_db()
    assert mailbox.poll_error.startswith(f"cannot read the CA bundle DUSK_IMAP_CA_FILE={tmp_path / 'missing.pem'}")
    assert fake_imap.received == []


def test_own_mail_old_mail_and_machine_mail(mailbox, fake_imap):
    fake_imap.deliver(mail("<old@example.com>"), internal_date=timezone.now() - timedelta(days=30))
    fake_imap.deliver(mail("<own@example.com>", sender="Brand Support <Support@brand.example>"))
    fake_imap.deliver(mail("<bounce@example.com>", sender="MAILER-DAEMON@mx.example.com"))
    fake_imap.deliver(mail("<new@example.com>"))
    assert poll_mail(mailbox).stored == 2
    # Mail from before the channel's registration was never Dusk's; our own address is skipped;
    # a bounce is stored (for the log) and marked as machine mail, which is never answered.
    assert stored_ids() == ["<bounce@example.com>", "<new@example.com>"]
    assert Message.objects.get(platform_message_id="<bounce@example.com>").meta["automatic"]
    mailbox.refresh_from_db()
    assert mailbox.poll_last_uid == 4


def test_a_poll_reads_at_most_the_configured_number_of_messages(mailbox, fake_imap, settings):
    settings.DUSK_IMAP_MAX_MESSAGES = 2
    for i in range(5):
        fake_imap.deliver(mail(f"<m{i}@example.com>"))
    assert poll_mail(mailbox).stored == 2
    mailbox.refresh_from_db()
    assert mailbox.poll_error.startswith("more than 2 new messages")
    assert poll_mail(mailbox).stored == 2
    assert poll_mail(mailbox).stored == 1
    mailbox.refresh_from_db()
    assert mailbox.poll_error == ""
    assert stored_ids() == [f"<m{i}@example.com>" for i in range(5)]


def test_mail_is_parsed_like_a_webhook_delivery():
    raw = (
        b"From: =?utf-8?q?J=C3=B6rg?= <Jorg@Example.com>\r\n"
        b"Subject: =?utf-8?q?Re=3A_Sch=C3=B6n?=\r\n"
        b"Date: Tue, 02 Dec 2025 09:30:00 +0100\r\n"
        b"Message-ID: <r2@example.com>\r\n"
        b"In-Reply-To: <r1@example.com>\r\n"
        b"References: <r0@example.com> <r1@example.com>\r\n"
        b"Content-Language: de-DE\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hallo <b>Welt</b></p>\r\n--b--\r\n"
    )
    message = imap_adapter.parse_message(raw)
    assert (message.platform_message_id, message.in_reply_to, message.thread_id) == (
        "<r2@example.com>",
        "<r1@example.com>",
        "<r0@example.com>",
    )
    assert (message.customer_id, message.customer_name, message.lang) == ("jorg@example.com", "Jörg", "de")
    assert message.raw["subject"] == "Re: Schön"
    assert message.text == "Hallo Welt"
    assert message.created_at == datetime(2025, 12, 2, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://imap.example.com/", "IMAP mailbox"),
        ("imaps://user:secret@imap.example.com/INBOX", "password"),
        ("imap://imap.example.com/INBOX?tls=none", "loopback"),
        ("imaps://imap.example.com/INBOX?tls=none", "only TLS option"),
        ("imaps://imap.example.com/Boîte", "ASCII"),
    ],
)
def test_a_mailbox_url_is_checked_when_the_channel_is_saved(manager, url, problem):
    with pytest.raises(ValidationError) as refused:
        register_channel(
            actor=manager,
            kind="email",
            name="Mailbox",
            handle="support@brand.example",
            api_base_url=url,
            api_token_env="DUSK_CHANNEL_IMAP_PASSWORD",
        )
    assert problem in " ".join(refused.value.message_dict["api_base_url"])


def test_a_mailbox_needs_its_password_variable_and_only_email_channels_take_one(manager):
    with pytest.raises(ValidationError) as refused:
        register_channel(
            actor=manager,
            kind="email",
            name="Mailbox",
            handle="support@brand.example",
            api_base_url="imaps://imap.example.com/INBOX",
        )
    assert "api_token_env" in refused.value.message_dict
    with pytest.raises(ValidationError):
        register_channel(actor=manager, kind="discourse", name="Forum", api_base_url="imaps://h/INBOX")
    channel = register_channel(
        actor=manager,
        kind="email",
        name="Mailbox",
        handle="support@brand.example",
        api_base_url="imaps://imap.example.com/INBOX",
        api_token_env="DUSK_CHANNEL_IMAP_PASSWORD",
    )
    assert parse_mailbox_url(channel.api_base_url) == Mailbox("imap.example.com", 993, "INBOX", "tls", "")


def test_only_email_channels_with_a_mailbox_are_polled(mailbox, platform_secrets):
    platform_channel("email")  # webhook only
    platform_channel("email", "imaps://imap.example.com/INBOX", api_token_env="")
    shouted = platform_channel(
        "email", "IMAPS://imap.example.com/INBOX", api_token_env="DUSK_CHANNEL_P"
    )  # schemes have no case
    assert email_channels_to_poll() == [mailbox.pk, shouted.pk]
