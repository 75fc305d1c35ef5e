"""The public notice on each platform, through the adapters against the stateful fakes: what is
captured before, what the platform shows after publishing, the look-up in doubt, and the
rollback putting back exactly what was there."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from channels_app.platforms.adapters import discourse, messenger, x, youtube
from channels_app.platforms.adapters.base import (
    Account,
    PermanentSendError,
    PublicChange,
    RetryableSendError,
)
from channels_app.platforms.adapters.registry import PLATFORMS
from channels_app.tests.support.fakeplatforms import google_error

NOTICE = "From 1 October we answer on https://help.example/contact and by phone. Thank you!"


def test_every_platform_says_what_it_publishes():
    assert set(PLATFORMS["x"].public_actions) == {"post"}
    assert set(PLATFORMS["discourse"].public_actions) == {"announce", "update_topic", "read_only", "unpin"}
    assert set(PLATFORMS["messenger"].public_actions) == {"greeting"}
    assert set(PLATFORMS["youtube"].public_actions) == {"description", "localizations"}
    assert PLATFORMS["email"].public_actions == {}


def test_an_action_a_platform_does_not_have_is_a_permanent_error(http_client):
    account = Account("http://127.0.0.1:9", "token")
    with pytest.raises(PermanentSendError, match="x publishes no 'description'"):
        x.PLATFORM.publish(http_client, account, PublicChange("description", "k"), {})


# ================================================================================================
# X
# ================================================================================================


def _x(fake_x):
    return Account(fake_x.base_url, fake_x.bearer_token, fake_x.account_id)


def test_x_posts_the_notice_finds_it_and_rollback_deletes_it(fake_x, http_client):
    change = PublicChange("post", "pub-1", text=NOTICE, since=datetime.now(UTC) - timedelta(seconds=5))
    before = x.PLATFORM.read_public_state(http_client, _x(fake_x), change)
    assert before == {}
    published = x.PLATFORM.publish(http_client, _x(fake_x), change, before)
    (post,) = fake_x.posts()
    assert post["id"] == published.platform_id and post["text"] == NOTICE
    assert fake_x.received[-1].json() == {"text": NOTICE}  # a post of its own: no reply object

    assert x.PLATFORM.find_publication(http_client, _x(fake_x), change, before) == published.platform_id
    x.PLATFORM.restore(http_client, _x(fake_x), change, before, published.platform_id)
    assert fake_x.posts() == []
    x.PLATFORM.restore(http_client, _x(fake_x), change, before, published.platform_id)  # again: no harm
    assert x.PLATFORM.find_publication(http_client, _x(fake_x), change, before) is None
    assert fake_x.violations == []


def test_x_a_post_whose_answer_was_lost_is_found_not_posted_again(fake_x, http_client):
    change = PublicChange("post", "pub-1", text=NOTICE, since=datetime.now(UTC) - timedelta(seconds=5))
    fake_x.fail_next(503, after_effect=True, path="/2/tweets")
    with pytest.raises(RetryableSendError) as caught:
        x.PLATFORM.publish(http_client, _x(fake_x), change, {})
    assert caught.value.in_doubt
    found = x.PLATFORM.find_publication(http_client, _x(fake_x), change, {})
    assert [p["id"] for p in fake_x.posts()] == [found]


def test_x_other_posts_of_the_brand_are_not_taken_for_the_notice(fake_x, http_client):
    since = datetime.now(UTC) - timedelta(seconds=5)
    x.post_tweet(http_client, fake_x.base_url, fake_x.bearer_token, "Our summer sale starts today")
    change = PublicChange("post", "pub-1", text=NOTICE, since=since)
    assert x.PLATFORM.find_publication(http_client, _x(fake_x), change, {}) is None


def test_x_revoked_credentials_are_permanent_with_the_platform_message(fake_x, http_client):
    fake_x.refuse_credentials = True
    with pytest.raises(PermanentSendError) as caught:
        x.PLATFORM.publish(http_client, _x(fake_x), PublicChange("post", "pub-1", text=NOTICE), {})
    assert caught.value.status_code == 401
    assert "Unauthorized" in caught.value.error
    assert fake_x.posts() == []


def test_x_rate_limit_is_retried_after_what_x_says(fake_x, http_client):
    fake_x.rate_limit_next("42")
    with pytest.raises(RetryableSendError) as caught:
        x.PLATFORM.publish(http_client, _x(fake_x), PublicChange("post", "pub-1", text=NOTICE), {})
    assert caught.value.retry_after == 42.0 and not caught.value.in_doubt
    assert fake_x.posts() == []


# ================================================================================================
# Discourse
# ================================================================================================


def _forum(fake_discourse):
    return Account(fake_discourse.base_url, fake_discourse.api_key, fake_discourse.api_username)


def _announce(key: str = "dusk-pub-7") -> PublicChange:
    return PublicChange(
        "announce", key, title="Support moves on 1 October", text=NOTICE + " Details below.", target="12"
    )


def test_discourse_announcement_is_one_topic_pinned_globally_and_rollback_removes_it(fake_discourse, http_client):
    change = _announce()
    account = _forum(fake_discourse)
    before = discourse.PLATFORM.read_public_state(http_client, account, change)
    published = discourse.PLATFORM.publish(http_client, account, change, before)
    (topic,) = fake_discourse.live_topics()
    assert str(topic["id"]) == published.platform_id
    assert topic["category_id"] == 12 and topic["external_id"] == "dusk-pub-7"
    assert topic["title"] == "Support moves on 1 October" and topic["pinned_globally"] is True
    assert discourse.PLATFORM.find_publication(http_client, account, change, before) == published.platform_id

    # Published again (a retry): the same topic, not a second one, not pinned twice.
    assert discourse.PLATFORM.publish(http_client, account, change, before).platform_id == published.platform_id
    assert len(fake_discourse.live_topics()) == 1 and topic["pin_changes"] == 1

    discourse.PLATFORM.restore(http_client, account, change, before, published.platform_id)
    assert fake_discourse.live_topics() == []
    discourse.PLATFORM.restore(http_client, account, change, before, published.platform_id)  # no harm
    assert fake_discourse.violations == []


def test_discourse_a_topic_created_but_not_yet_pinned_is_finished_not_created_again(fake_discourse, http_client):
    change = _announce()
    account = _forum(fake_discourse)
    fake_discourse.fail_next(502, after_effect=True, path="/posts.json")
    with pytest.raises(RetryableSendError) as caught:
        discourse.PLATFORM.publish(http_client, account, change, {})
    assert caught.value.in_doubt
    assert discourse.PLATFORM.find_publication(http_client, account, change, {}) is None  # not pinned yet
    published = discourse.PLATFORM.publish(http_client, account, change, {})
    (topic,) = fake_discourse.live_topics()
    assert str(topic["id"]) == published.platform_id and topic["pinned_globally"]


def test_discourse_read_only_category_and_rollback_restores_its_exact_permissions(fake_discourse, http_client):
    account = _forum(fake_discourse)
    change = PublicChange("read_only", "dusk-pub-8", target="13")
    earlier = copy.deepcopy(fake_discourse.categories[13])
    before = discourse.PLATFORM.read_public_state(http_client, account, change)
    assert before == earlier
    published = discourse.PLATFORM.publish(http_client, account, change, before)
    assert published.platform_id == "13"
    assert fake_discourse.categories[13] == {"name": "Billing help", "permissions": {"everyone": 3, "staff": 1}}
    assert discourse.PLATFORM.find_publication(http_client, account, change, before) == "13"
    discourse.PLATFORM.restore(http_client, account, change, before, published.platform_id)
    assert fake_discourse.categories[13] == earlier
    assert discourse.PLATFORM.find_publication(http_client, account, change, before) is None


def test_discourse_the_topic_says_support_has_moved_and_rollback_puts_its_text_back(fake_discourse, http_client):
    account = _forum(fake_discourse)
    topic_id = discourse.PLATFORM.publish(http_client, account, _announce(), {}).platform_id
    moved = "Support has moved: https://help.example/contact or by phone."
    change = PublicChange("update_topic", "dusk-pub-10", text=moved, target=topic_id)
    before = discourse.PLATFORM.read_public_state(http_client, account, change)
    assert before == {"post_id": str(fake_discourse.topic(topic_id)["post_id"]), "raw": NOTICE + " Details below."}
    assert discourse.PLATFORM.find_publication(http_client, account, change, before) is None
    assert discourse.PLATFORM.publish(http_client, account, change, before).platform_id == topic_id
    topic = fake_discourse.topic(topic_id)
    assert topic["raw"] == moved and topic["pinned_globally"] and topic["edit_reasons"] == ["Support has moved"]
    assert discourse.PLATFORM.find_publication(http_client, account, change, before) == topic_id
    discourse.PLATFORM.restore(http_client, account, change, before, topic_id)
    assert fake_discourse.topic(topic_id)["raw"] == NOTICE + " Details below."
    # A topic deleted since (the notice rolled back) has nothing to put back, and no error.
    discourse.PLATFORM.restore(http_client, account, _announce(), {}, topic_id)
    discourse.PLATFORM.restore(http_client, account, change, before, topic_id)
    with pytest.raises(PermanentSendError, match="is gone from the forum"):
        discourse.PLATFORM.read_public_state(http_client, account, change)
    assert fake_discourse.violations == []


def test_discourse_unpin_and_its_rollback(fake_discourse, http_client):
    account = _forum(fake_discourse)
    topic_id = discourse.PLATFORM.publish(http_client, account, _announce(), {}).platform_id
    change = PublicChange("unpin", "dusk-pub-9", target=topic_id)
    before = discourse.PLATFORM.read_public_state(http_client, account, change)
    assert before == {"pinned_globally": True}
    discourse.PLATFORM.publish(http_client, account, change, before)
    assert fake_discourse.topic(topic_id)["pinned_globally"] is False
    assert discourse.PLATFORM.find_publication(http_client, account, change, before) == topic_id
    discourse.PLATFORM.restore(http_client, account, change, before, topic_id)
    assert fake_discourse.topic(topic_id)["pinned_globally"] is True


def test_discourse_a_user_who_may_not_pin_gets_the_forum_message_and_no_pin(fake_discourse, http_client):
    fake_discourse.api_user_is_staff = False
    with pytest.raises(PermanentSendError) as caught:
        discourse.PLATFORM.publish(http_client, _forum(fake_discourse), _announce(), {})
    assert caught.value.status_code == 403
    assert "You are not permitted" in caught.value.error
    assert fake_discourse.live_topics() == []  # not left behind unpinned


def test_discourse_rate_limit_reads_wait_seconds(fake_discourse, http_client):
    fake_discourse.fail_next(429, body={"errors": ["slow down"], "extras": {"wait_seconds": 12}}, path="/posts.json")
    with pytest.raises(RetryableSendError) as caught:
        discourse.PLATFORM.publish(http_client, _forum(fake_discourse), _announce(), {})
    assert caught.value.retry_after == 12.0
    assert fake_discourse.live_topics() == []


def test_discourse_ids_that_are_not_numbers_are_refused_before_any_request(fake_discourse, http_client):
    with pytest.raises(PermanentSendError, match="category id"):
        discourse.PLATFORM.read_public_state(
            http_client, _forum(fake_discourse), PublicChange("read_only", "k", target="../admin")
        )
    assert fake_discourse.received == []


# ================================================================================================
# Messenger
# ================================================================================================


def _page(fake_messenger):
    return Account(fake_messenger.base_url, fake_messenger.page_access_token, fake_messenger.page_id)


def _greeting(**texts: str) -> PublicChange:
    return PublicChange(
        "greeting",
        "dusk-pub-10",
        texts=texts or {"default": "We moved: help.example/contact", "fr_FR": "Nous avons déménagé : help.example"},
        links=(("Call us", "DUSK_REDIRECT_1"), ("Write to us", "DUSK_REDIRECT_2")),
    )


def test_messenger_greeting_and_ice_breakers_and_rollback_restores_the_profile_exactly(fake_messenger, http_client):
    earlier = {"greeting": [{"locale": "default", "text": "Hi {{user_first_name}}, how can we help?"}]}
    fake_messenger.profile = copy.deepcopy({**earlier, "get_started": {"payload": "START"}})
    change = _greeting()
    account = _page(fake_messenger)
    before = messenger.PLATFORM.read_public_state(http_client, account, change)
    assert before == {"greeting": earlier["greeting"], "ice_breakers": None}

    messenger.PLATFORM.publish(http_client, account, change, before)
    assert fake_messenger.profile["greeting"] == [
        {"locale": "default", "text": "We moved: help.example/contact"},
        {"locale": "fr_FR", "text": "Nous avons déménagé : help.example"},
    ]
    assert fake_messenger.profile["ice_breakers"] == [
        {
            "call_to_actions": [
                {"question": "Call us", "payload": "DUSK_REDIRECT_1"},
                {"question": "Write to us", "payload": "DUSK_REDIRECT_2"},
            ],
            "locale": "default",
        }
    ]
    assert messenger.PLATFORM.find_publication(http_client, account, change, before) == fake_messenger.page_id

    messenger.PLATFORM.restore(http_client, account, change, before, fake_messenger.page_id)
    assert fake_messenger.profile == {**earlier, "get_started": {"payload": "START"}}
    assert messenger.PLATFORM.find_publication(http_client, account, change, before) is None
    assert fake_messenger.violations == []


def test_messenger_greeting_over_160_characters_is_refused_before_any_request(fake_messenger, http_client):
    with pytest.raises(PermanentSendError, match="161 characters"):
        messenger.PLATFORM.publish(http_client, _page(fake_messenger), _greeting(default="a" * 161), {})
    with pytest.raises(PermanentSendError, match="default locale"):
        messenger.PLATFORM.publish(http_client, _page(fake_messenger), _greeting(fr_FR="Bonjour"), {})
    assert fake_messenger.received == [] and fake_messenger.profile == {}


def test_messenger_refusal_carries_the_graph_message(fake_messenger, http_client):
    with pytest.raises(PermanentSendError) as caught:
        messenger.set_profile(
            http_client,
            fake_messenger.base_url,
            fake_messenger.page_access_token,
            {"greeting": [{"locale": "fr_FR", "text": "x"}]},
        )
    assert "(#100) greeting must include the default locale" in caught.value.error
    assert fake_messenger.profile == {}


def test_messenger_throttling_is_retryable(fake_messenger, http_client):
    fake_messenger.fail_next(
        400, body={"error": {"message": "(#613) Calls to this api have exceeded the rate limit.", "code": 613}}
    )
    with pytest.raises(RetryableSendError):
        messenger.PLATFORM.publish(http_client, _page(fake_messenger), _greeting(), {})
    assert fake_messenger.profile == {}


@pytest.mark.parametrize(
    ("language", "locale"), [("fr", "fr_FR"), ("id", "id_ID"), ("pt-BR", "pt_BR"), ("en", "en_US"), ("xx", None)]
)
def test_messenger_locale_codes(language, locale):
    assert messenger.messenger_locale(language) == locale


# ================================================================================================
# YouTube
# ================================================================================================


def _channel(fake_youtube):
    return Account(fake_youtube.base_url, fake_youtube.access_token, fake_youtube.channel_id)


def test_youtube_description_keeps_every_other_branding_setting_and_rollback_restores_it(fake_youtube, http_client):
    earlier = copy.deepcopy(fake_youtube.branding)
    change = PublicChange("description", "dusk-pub-11", text=NOTICE)
    account = _channel(fake_youtube)
    before = youtube.PLATFORM.read_public_state(http_client, account, change)
    assert before == {"channel_id": fake_youtube.channel_id, "brandingSettings": earlier}

    published = youtube.PLATFORM.publish(http_client, account, change, before)
    assert published.platform_id == fake_youtube.channel_id
    expected = copy.deepcopy(earlier)
    expected["channel"]["description"] = NOTICE
    assert fake_youtube.branding == expected  # keywords, trailer, banner... all kept
    assert youtube.PLATFORM.find_publication(http_client, account, change, before) == fake_youtube.channel_id

    youtube.PLATFORM.restore(http_client, account, change, before, published.platform_id)
    assert fake_youtube.branding == earlier
    assert fake_youtube.violations == []


def test_youtube_other_languages_go_in_the_localizations_and_rollback_restores_them(fake_youtube, http_client):
    account = _channel(fake_youtube)
    earlier = copy.deepcopy(fake_youtube.localizations)
    texts = {"fr": "Le support déménage le 1er octobre.", "de": "Der Support zieht am 1. Oktober um."}
    change = PublicChange("localizations", "dusk-pub-12", texts=texts)
    before = youtube.PLATFORM.read_public_state(http_client, account, change)
    assert before == {"channel_id": fake_youtube.channel_id, "localizations": earlier}
    assert youtube.PLATFORM.find_publication(http_client, account, change, before) is None
    youtube.PLATFORM.publish(http_client, account, change, before)
    # German's title kept, French's the channel's own title; the description replaced.
    assert fake_youtube.localizations == {
        "de": {"title": "Brand", "description": texts["de"]},
        "fr": {"title": "Brand", "description": texts["fr"]},
    }
    assert youtube.PLATFORM.find_publication(http_client, account, change, before) == fake_youtube.channel_id
    youtube.PLATFORM.restore(http_client, account, change, before, fake_youtube.channel_id)
    assert fake_youtube.localizations == earlier
    assert fake_youtube.violations == []


def test_youtube_a_channel_without_a_default_language_gets_the_notices(fake_youtube, http_client):
    account = _channel(fake_youtube)
    del fake_youtube.branding["channel"]["defaultLanguage"]
    earlier = copy.deepcopy(fake_youtube.branding)
    localize = PublicChange("localizations", "dusk-pub-13", texts={"fr": "Le support déménage."})
    with pytest.raises(PermanentSendError, match="defaultLanguageNotSet"):
        youtube.PLATFORM.publish(http_client, account, localize, {})
    # The description, published first, sets the default language its localizations need.
    describe = PublicChange("description", "dusk-pub-14", text=NOTICE, language="en")
    before = youtube.PLATFORM.read_public_state(http_client, account, describe)
    youtube.PLATFORM.publish(http_client, account, describe, before)
    assert fake_youtube.branding["channel"]["defaultLanguage"] == "en"
    youtube.PLATFORM.publish(http_client, account, localize, {})
    assert fake_youtube.localizations["fr"]["description"] == "Le support déménage."
    youtube.PLATFORM.restore(http_client, account, describe, before, fake_youtube.channel_id)
    assert fake_youtube.branding == earlier


def test_youtube_description_over_the_limit_is_refused_before_any_write(fake_youtube, http_client):
    change = PublicChange("description", "dusk-pub-11", text="a" * 1001)
    with pytest.raises(PermanentSendError, match="1001 characters"):
        youtube.PLATFORM.publish(http_client, _channel(fake_youtube), change, {})
    assert fake_youtube.branding_writes == 0


def test_youtube_quota_is_retryable_and_a_bad_token_permanent(fake_youtube, http_client):
    change = PublicChange("description", "dusk-pub-11", text=NOTICE)
    fake_youtube.fail_next(403, body=google_error(403, "quotaExceeded"), path="/youtube/v3/channels")
    with pytest.raises(RetryableSendError):
        youtube.PLATFORM.publish(http_client, _channel(fake_youtube), change, {})
    fake_youtube.refuse_credentials = True
    with pytest.raises(PermanentSendError) as caught:
        youtube.PLATFORM.publish(http_client, _channel(fake_youtube), change, {})
    assert caught.value.status_code == 401
    assert fake_youtube.branding_writes == 0
