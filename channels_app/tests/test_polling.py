"""The YouTube poller against a real fake YouTube: high-water mark, boundary ids, paging."""

# Imported pytest fixtures are "redefined" by the test arguments that use them.
# ruff: noqa: F811

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app import services
from channels_app.adapters import youtube
from channels_app.models import Channel, Message, OutboxMessage
from channels_app.querysets_inbound import youtube_channels_to_poll

from .fakeplatforms import fake_youtube, google_error  # noqa: F401 - fixtures are used by argument name
from .inbound_helpers import platform_channel, platform_secrets, sunset  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel(platform_secrets, fake_youtube):
    channel = platform_channel("youtube", fake_youtube.base_url)
    # Registered an hour ago: comments from before then were never Dusk's to answer.
    Channel.objects.filter(pk=channel.pk).update(created_at=timezone.now() - timedelta(hours=1))
    channel.refresh_from_db()
    return channel


def poll(channel):
    return services.poll_youtube_channel(channel_id=channel.pk)


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
    assert services.send_due_replies().sent == 1
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
    monkeypatch.delenv("DUSK_TEST_YOUTUBE_TOKEN")
    poll(channel)
    channel.refresh_from_db()
    assert channel.poll_error == "no API token: environment variable DUSK_TEST_YOUTUBE_TOKEN is not set"


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
