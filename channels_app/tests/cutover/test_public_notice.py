"""The public notice published by the cutover: a plan retiring an X, a Discourse, a Messenger and
a YouTube channel, run through notice, hard close and archive; each fake platform ends in the
documented state, each change made once; rollback puts back exactly what was there."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from django.urls import reverse

from channels_app.cutover.selectors import dry_run
from channels_app.cutover.services.engine import publish_run_changes
from channels_app.cutover.services.rollback import rollback_run
from channels_app.models import AuditEvent, CutoverRun, Publication, PublicationState, RunState, Step
from channels_app.tests.support.fakeplatforms import FakeDiscourse, FakeMessenger, FakeYouTube, serve
from channels_app.tests.support.helpers import REDIRECTS
from channels_app.tests.support.notice_helpers import four_platform_channels, notice_plan, run_phase


@pytest.fixture
def fake_discourse() -> Iterator[FakeDiscourse]:
    yield from serve(FakeDiscourse())


@pytest.fixture
def fake_messenger() -> Iterator[FakeMessenger]:
    yield from serve(FakeMessenger())


@pytest.fixture
def fake_youtube() -> Iterator[FakeYouTube]:
    yield from serve(FakeYouTube())


@pytest.fixture
def four_channels(platform_secrets, fake_x, fake_discourse, fake_messenger, fake_youtube):
    return four_platform_channels(fake_x, fake_discourse, fake_messenger, fake_youtube)


def _plan(manager, approver, channels, kinds=("notice", "soft_close", "hard_close", "archive")):
    return notice_plan(manager, approver, channels, kinds)


def _run(plan, kind, expected=("completed", "delivering")) -> CutoverRun:
    return run_phase(plan, kind, expected)


def _requests(fake, method, path_start=""):
    return [r for r in fake.received if r.method == method and r.path.startswith(path_start)]


@pytest.mark.django_db(transaction=True)
def test_notice_hard_close_and_archive_leave_each_platform_in_its_documented_state(
    manager, approver, four_channels, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    earlier_branding = copy.deepcopy(fake_youtube.branding)
    plan = _plan(manager, approver, four_channels)

    notice = _run(plan, "notice")
    assert notice.steps[Step.PUBLISHING]["state"] == "done"
    assert notice.steps[Step.PUBLISHING]["total"] == 4 and notice.steps[Step.PUBLISHING]["done"] == 4
    # X: one post of the brand's own, in the plan's default locale.
    (post,) = fake_x.posts()
    assert post["text"].startswith("Support here closes on") and "help.example" in post["text"]
    # Discourse: one announcement topic in the configured category, pinned globally.
    (topic,) = fake_discourse.live_topics()
    assert topic["category_id"] == 12 and topic["pinned_globally"] and topic["title"].startswith("Our support")
    # Messenger: the greeting per locale (Meta's codes) and ice breakers to the new channels.
    greeting = {g["locale"]: g["text"] for g in fake_messenger.profile["greeting"]}
    assert set(greeting) == {"default", "en_US", "fr_FR"} and greeting["fr_FR"].startswith("Le support ici ferme")
    breakers = fake_messenger.profile["ice_breakers"][0]["call_to_actions"]
    assert [b["payload"] for b in breakers] == [f"DUSK_REDIRECT_{i}" for i in range(len(REDIRECTS))]
    # YouTube: the description replaced, every other branding setting kept.
    assert fake_youtube.branding["channel"]["description"].startswith("Support here closes on")
    assert {k: v for k, v in fake_youtube.branding["channel"].items() if k != "description"} == {
        k: v for k, v in earlier_branding["channel"].items() if k != "description"
    }
    assert fake_youtube.branding["image"] == earlier_branding["image"]

    _run(plan, "soft_close")
    hard = _run(plan, "hard_close")
    assert hard.steps[Step.PUBLISHING]["done"] == 5  # X, two categories, Messenger, YouTube
    assert [p["text"] for p in fake_x.posts()][1].startswith("Support has moved")
    assert fake_discourse.categories[12]["permissions"] == {"everyone": 3, "staff": 1}
    assert fake_discourse.categories[13]["permissions"] == {"everyone": 3, "staff": 1}
    greeting = {g["locale"]: g["text"] for g in fake_messenger.profile["greeting"]}
    assert greeting["default"].startswith("Support has moved") and greeting["fr_FR"].startswith("Le support a")
    assert fake_youtube.branding["channel"]["description"].startswith("Support has moved")

    archive = _run(plan, "archive")
    assert archive.steps[Step.PUBLISHING]["done"] == 1
    assert fake_discourse.topic(topic["id"])["pinned_globally"] is False

    # Each change made once on each platform.
    assert len(_requests(fake_x, "POST", "/2/tweets")) == 2
    assert len(_requests(fake_discourse, "POST", "/posts.json")) == 1
    assert len(_requests(fake_discourse, "PUT", "/t/")) == 2  # pin, unpin
    assert len(_requests(fake_discourse, "PUT", "/categories/")) == 2
    assert fake_messenger.profile_writes == 2 and fake_youtube.branding_writes == 2
    assert Publication.objects.filter(state=PublicationState.PUBLISHED).count() == 10
    assert AuditEvent.objects.filter(action="publication.published").count() == 10
    for fake in (fake_x, fake_discourse, fake_messenger, fake_youtube):
        assert fake.violations == []


@pytest.mark.django_db(transaction=True)
def test_rolling_back_the_hard_close_restores_what_the_notice_left(
    manager, approver, four_channels, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    plan = _plan(manager, approver, four_channels, kinds=("notice", "hard_close"))
    _run(plan, "notice")
    after_notice = {
        "posts": [p["id"] for p in fake_x.posts()],
        "categories": copy.deepcopy(fake_discourse.categories),
        "topics": fake_discourse.live_topics(),
        "profile": copy.deepcopy(fake_messenger.profile),
        "branding": copy.deepcopy(fake_youtube.branding),
    }
    hard = _run(plan, "hard_close")
    assert fake_discourse.categories != after_notice["categories"]

    rollback_run(actor=manager, run=hard, reason="The new help centre is down")
    assert [p["id"] for p in fake_x.posts()] == after_notice["posts"]
    assert fake_discourse.categories == after_notice["categories"]
    assert fake_discourse.live_topics() == after_notice["topics"]
    assert fake_messenger.profile == after_notice["profile"]
    assert fake_youtube.branding == after_notice["branding"]
    hard.refresh_from_db()
    assert hard.rollback_summary["public_changes_restored"] == 5
    assert hard.rollback_summary["public_changes_not_restored"] == []
    assert AuditEvent.objects.filter(action="publication.restored").count() == 5
    assert Publication.objects.filter(run=hard, state=PublicationState.RESTORED).count() == 5


@pytest.mark.django_db(transaction=True)
def test_rolling_back_the_notice_restores_every_platform_exactly(
    manager, approver, four_channels, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    before = {
        "categories": copy.deepcopy(fake_discourse.categories),
        "profile": copy.deepcopy(fake_messenger.profile),
        "branding": copy.deepcopy(fake_youtube.branding),
    }
    plan = _plan(manager, approver, four_channels, kinds=("notice", "hard_close"))
    notice = _run(plan, "notice")
    rollback_run(actor=manager, run=notice, reason="Announced too early")
    assert fake_x.posts() == [] and fake_discourse.live_topics() == []
    assert fake_discourse.categories == before["categories"]
    assert fake_messenger.profile == before["profile"]  # the earlier greeting, no ice breakers
    assert fake_youtube.branding == before["branding"]


@pytest.mark.django_db(transaction=True)
def test_a_platform_refusing_a_change_fails_only_that_channel_and_shows_its_message(
    manager, approver, four_channels, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    fake_discourse.api_user_is_staff = False  # may create topics, not pin them
    plan = _plan(manager, approver, four_channels, kinds=("notice", "hard_close"))
    notice = _run(plan, "notice", expected=[RunState.COMPLETED_WITH_FAILURES])
    assert fake_discourse.live_topics() == []  # nothing half-applied on the forum
    assert len(fake_x.posts()) == 1 and fake_messenger.profile_writes == 1 and fake_youtube.branding_writes == 1
    failed = Publication.objects.get(run=notice, state=PublicationState.FAILED)
    assert failed.channel.kind == "discourse" and "You are not permitted" in failed.error
    notice.refresh_from_db()
    assert notice.state == RunState.COMPLETED_WITH_FAILURES
    assert any("Brand forum: announce:" in e["error"] and "not permitted" in e["error"] for e in notice.errors)


@pytest.mark.django_db(transaction=True)
def test_a_refused_change_is_retried_from_the_run_page_once_the_cause_is_fixed(
    client, manager, approver, four_channels, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    fake_discourse.api_user_is_staff = False
    plan = _plan(manager, approver, four_channels, kinds=("notice", "hard_close"))
    notice = _run(plan, "notice", expected=[RunState.COMPLETED_WITH_FAILURES])
    client.force_login(manager)
    page = client.get(reverse("run_detail", args=[notice.pk])).content.decode()
    assert 'data-publication="announce"' in page and "You are not permitted" in page

    fake_discourse.api_user_is_staff = True  # the forum's admin made the API user a moderator
    response = client.post(reverse("run_retry_deliveries", args=[notice.pk]))
    assert response.status_code == 302
    assert publish_run_changes(run_id=notice.pk) == RunState.COMPLETED  # what the queued task runs
    (topic,) = fake_discourse.live_topics()
    assert topic["pinned_globally"]
    assert len(fake_x.posts()) == 1 and fake_messenger.profile_writes == 1 and fake_youtube.branding_writes == 1
    assert not Publication.objects.filter(run=notice).exclude(state=PublicationState.PUBLISHED).exists()


@pytest.mark.django_db(transaction=True)
def test_the_dry_run_lists_the_public_changes_and_what_stops_one(
    client, manager, approver, four_channels, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    forum = next(c for c in four_channels if c.kind == "discourse")
    forum.notice_settings = {}  # no announcement category set
    forum.save(update_fields=["notice_settings"])
    plan = _plan(manager, approver, four_channels, kinds=("notice", "hard_close"))
    notice = plan.phases.get(kind="notice")
    changes = {c.action: c for c in dry_run(notice).public_changes}
    assert set(changes) == {"post", "announce", "greeting", "description"}
    assert changes["post"].change["text"].startswith("Support here closes on")
    assert changes["announce"].problem == "No announcement category is set for this forum."
    client.force_login(manager)
    page = client.get(reverse("phase_dry_run", args=[plan.pk, notice.pk])).content.decode()
    assert 'data-public-change="greeting"' in page and "No announcement category is set for this forum." in page
    hard = {c.action for c in dry_run(plan.phases.get(kind="hard_close")).public_changes}
    assert hard == {"post", "greeting", "description"}  # no category to make read-only either
    for fake in (fake_x, fake_discourse, fake_messenger, fake_youtube):
        assert [r for r in fake.received if r.method != "GET"] == []  # the dry run changed nothing
