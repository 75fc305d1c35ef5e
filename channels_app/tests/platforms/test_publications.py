"""Publishing the public notice exactly once (platforms/services/publications.py): a worker that
dies at any point of a publication, a platform rate-limiting or answering 5xx, and the platform's
state checked after each, not only the requests."""

from __future__ import annotations

import copy

import pytest

from channels_app.models import AuditEvent, Publication, PublicationState
from channels_app.platforms.services.publications import publish_pending, queue_publications
from channels_app.tests.support.notice_helpers import claim, four_platform_channels, notice_plan


class WorkerDied(Exception):
    """The worker's process ending mid-publication, as SIGKILL would: its open transaction is
    rolled back, what the platform already did stays done."""


def _dying_at(call: int):
    calls = {"n": 0}

    def beat() -> None:
        calls["n"] += 1
        if calls["n"] == call:
            raise WorkerDied

    return beat


def _publish_dying_from(run, dies_at: int):
    """Passes of publish_pending, each dying one write further than the one before (a worker
    restarted after a crash does not crash at the same instant again), until one completes."""
    for passes in range(1, 40):
        try:
            return publish_pending(run_id=run.pk, beat=_dying_at(dies_at + passes - 1))
        except WorkerDied:
            continue
    raise AssertionError("publishing never completed")


@pytest.fixture
def notice_run(manager, approver, platform_secrets, fake_x, fake_discourse, fake_messenger, fake_youtube):
    channels = four_platform_channels(fake_x, fake_discourse, fake_messenger, fake_youtube)
    plan = notice_plan(manager, approver, channels, kinds=("notice", "hard_close"))
    run = claim(plan, "notice")
    queue_publications(run=run, channel_ids=[c.pk for c in channels])
    return run


def _assert_each_change_made_once(fake_x, fake_discourse, fake_messenger, fake_youtube):
    assert len(fake_x.posts()) == 2  # one a locale
    assert len([r for r in fake_x.received if r.method == "POST" and r.path == "/2/tweets"]) == 2
    (topic,) = fake_discourse.live_topics()
    assert topic["pinned_globally"] and topic["pin_changes"] == 1
    assert len([r for r in fake_discourse.received if r.method == "POST" and r.path == "/posts.json"]) == 1
    assert fake_messenger.profile_writes == 1
    assert fake_youtube.branding_writes == 1 and fake_youtube.localization_writes == 1


@pytest.mark.django_db(transaction=True)
# Six publications of about three writes each: every write of the first two, then every third.
@pytest.mark.parametrize("dies_at", [1, 2, 3, 4, 5, 6, 8, 11, 14, 17])
def test_a_worker_dying_at_any_write_leaves_no_change_doubled_or_missing(
    notice_run, dies_at, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    """Passes die at a write (a capture, an attempt counted before its request, or a success
    recorded after it), from the `dies_at`-th on, until one completes: each next pass looks up
    what is in doubt on the platform before any retry."""
    report = _publish_dying_from(notice_run, dies_at)
    assert report.failed == 0 and report.published == 6
    assert Publication.objects.filter(run=notice_run, state=PublicationState.PUBLISHED).count() == 6
    _assert_each_change_made_once(fake_x, fake_discourse, fake_messenger, fake_youtube)
    assert AuditEvent.objects.filter(action="publication.published").count() == 6
    for fake in (fake_x, fake_discourse, fake_messenger, fake_youtube):
        assert fake.violations == []


@pytest.mark.django_db(transaction=True)
def test_answers_lost_after_the_platform_acted_are_found_not_repeated(
    notice_run, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    fake_x.fail_next(503, after_effect=True, path="/2/tweets")
    fake_discourse.fail_next(502, after_effect=True, path="/posts.json")
    report = publish_pending(run_id=notice_run.pk)
    assert report.published == 6 and report.recovered >= 2
    _assert_each_change_made_once(fake_x, fake_discourse, fake_messenger, fake_youtube)


@pytest.mark.django_db(transaction=True)
def test_retry_after_is_waited_out_and_a_long_one_fails_that_channel_only(
    notice_run, settings, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    settings.DUSK_PUBLICATION_MAX_WAIT = 5.0
    settings.DUSK_OUTBOX_BACKOFF_BASE = 0.2  # the wait is X's Retry-After, not the backoff
    fake_x.rate_limit_next("1")  # waited out
    fake_youtube.fail_next(429, headers={"Retry-After": "3600"}, path="/youtube/v3/channels")  # not
    report = publish_pending(run_id=notice_run.pk)
    # X's two posts, the forum, Messenger; YouTube's localizations not made behind its description.
    assert report.published == 4 and report.failed == 1 and report.waiting == 1
    x_post = Publication.objects.get(run=notice_run, action="post", target="en")
    assert x_post.state == PublicationState.PUBLISHED and x_post.attempts == 2
    assert len(fake_x.posts()) == 2
    described = Publication.objects.get(run=notice_run, action="description")
    assert described.state == PublicationState.FAILED and "HTTP 429" in described.error
    assert fake_youtube.branding_writes == 0 and fake_youtube.localization_writes == 0
    localized = Publication.objects.get(run=notice_run, action="localizations")
    assert (
        localized.state == PublicationState.FAILED
        and localized.error == "not made: an earlier change on this channel was refused"
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("dies_at", range(14, 23))
def test_a_worker_dying_while_a_refusal_undoes_the_channel_leaves_the_platform_as_it_was(
    notice_run, dies_at, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    """YouTube takes the description, then refuses its localizations: the description is undone.
    Passes die at a write from the `dies_at`-th on (around the refusal and the undo): whatever
    pass finishes, YouTube's branding is what it was, the channel's two changes are failed with
    why, and the other platforms carry the notice once."""
    earlier = copy.deepcopy(fake_youtube.branding)
    fake_youtube.refuse_localizations = True
    report = _publish_dying_from(notice_run, dies_at)
    assert fake_youtube.branding == earlier
    rows = {p.action: p for p in Publication.objects.filter(run=notice_run, channel__kind="youtube")}
    assert rows["description"].state == PublicationState.FAILED
    assert rows["description"].error == "undone: a later change on this channel was refused"
    assert rows["localizations"].state == PublicationState.FAILED and "forbidden" in rows["localizations"].error
    assert report.published == 4 and report.failed + report.undone == 2
    assert Publication.objects.filter(run=notice_run, state=PublicationState.PUBLISHED).count() == 4
    assert len(fake_x.posts()) == 2 and len(fake_discourse.live_topics()) == 1
    assert fake_messenger.profile_writes == 1
    assert AuditEvent.objects.filter(action="publication.undone").count() == 1
