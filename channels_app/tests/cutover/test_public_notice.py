"""The public notice published by the cutover: a plan retiring an X, a Discourse, a Messenger and
a YouTube channel, run through notice, hard close and archive; each fake platform ends in the
documented state, each change made once; rollback puts back exactly what was there."""

from __future__ import annotations

import copy
import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from channels_app.cutover.selectors import dry_run
from channels_app.cutover.services.engine import publish_run_changes
from channels_app.cutover.services.rollback import rollback_run
from channels_app.models import AuditEvent, CutoverRun, Publication, PublicationState, RunState, Step
from channels_app.tests.api.test_views import api
from channels_app.tests.support.helpers import REDIRECTS
from channels_app.tests.support.notice_helpers import notice_plan, run_phase


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
    # X 2 (en, fr), Discourse 1, Messenger 1, YouTube 2 (description, localizations).
    assert notice.steps[Step.PUBLISHING]["total"] == 6 and notice.steps[Step.PUBLISHING]["done"] == 6
    # X: one post of the brand's own per locale, the plan's default first.
    english, french = fake_x.posts()
    assert english["text"].startswith("Support here closes on") and "help.example" in english["text"]
    assert french["text"].startswith("Le support ici ferme")
    # Discourse: one announcement topic in the configured category, pinned globally, with the
    # body of every locale that has one.
    (topic,) = fake_discourse.live_topics()
    assert topic["category_id"] == 12 and topic["pinned_globally"] and topic["title"].startswith("Our support")
    assert topic["raw"].startswith("From ") and topic["version"] == 1
    # Messenger: the greeting per locale (Meta's codes) and ice breakers to the new channels.
    greeting = {g["locale"]: g["text"] for g in fake_messenger.profile["greeting"]}
    assert set(greeting) == {"default", "en_US", "fr_FR"} and greeting["fr_FR"].startswith("Le support ici ferme")
    breakers = fake_messenger.profile["ice_breakers"][0]["call_to_actions"]
    assert [b["payload"] for b in breakers] == [f"DUSK_REDIRECT_{i}" for i in range(len(REDIRECTS))]
    # YouTube: the description replaced, every other branding setting kept; the French one in
    # the channel's localizations, beside the German it had.
    assert fake_youtube.branding["channel"]["description"].startswith("Support here closes on")
    assert {k: v for k, v in fake_youtube.branding["channel"].items() if k != "description"} == {
        k: v for k, v in earlier_branding["channel"].items() if k != "description"
    }
    assert fake_youtube.branding["image"] == earlier_branding["image"]
    assert fake_youtube.localizations["de"] == {"title": "Brand", "description": "Offizieller Kanal."}
    assert fake_youtube.localizations["fr"]["title"] == "Brand"
    assert fake_youtube.localizations["fr"]["description"].startswith("Le support ici ferme")

    _run(plan, "soft_close")
    hard = _run(plan, "hard_close")
    # X 2, the topic's text and two categories, Messenger, YouTube 2.
    assert hard.steps[Step.PUBLISHING]["done"] == 8
    assert [p["text"][:17] for p in fake_x.posts()][2:] == ["Support has moved", "Le support a démé"]
    moved = fake_discourse.topic(topic["id"])
    assert moved["raw"].startswith("Support has moved") and "Le support a déménagé" in moved["raw"]
    assert moved["pinned_globally"] and moved["edit_reasons"] == ["Support has moved"]
    assert fake_discourse.categories[12]["permissions"] == {"everyone": 3, "staff": 1}
    assert fake_discourse.categories[13]["permissions"] == {"everyone": 3, "staff": 1}
    greeting = {g["locale"]: g["text"] for g in fake_messenger.profile["greeting"]}
    assert greeting["default"].startswith("Support has moved") and greeting["fr_FR"].startswith("Le support a")
    assert fake_youtube.branding["channel"]["description"].startswith("Support has moved")
    assert fake_youtube.localizations["fr"]["description"].startswith("Le support a déménagé")

    archive = _run(plan, "archive")
    assert archive.steps[Step.PUBLISHING]["done"] == 1
    assert fake_discourse.topic(topic["id"])["pinned_globally"] is False

    # Each change made once on each platform.
    assert len(_requests(fake_x, "POST", "/2/tweets")) == 4
    assert len(_requests(fake_discourse, "POST", "/posts.json")) == 1
    assert len(_requests(fake_discourse, "PUT", "/t/")) == 2  # pin, unpin
    assert len(_requests(fake_discourse, "PUT", "/posts/")) == 1
    assert len(_requests(fake_discourse, "PUT", "/categories/")) == 2
    assert fake_messenger.profile_writes == 2
    assert fake_youtube.branding_writes == 2 and fake_youtube.localization_writes == 2
    assert Publication.objects.filter(state=PublicationState.PUBLISHED).count() == 15
    assert AuditEvent.objects.filter(action="publication.published").count() == 15
    for fake in (fake_x, fake_discourse, fake_messenger, fake_youtube):
        assert fake.violations == []


def _forum_text(fake_discourse) -> list[tuple]:
    """The live topics as readers see them (the forum keeps an edit's revision besides)."""
    return [(t["id"], t["title"], t["raw"], t["pinned_globally"]) for t in fake_discourse.live_topics()]


@pytest.mark.django_db(transaction=True)
def test_rolling_back_the_hard_close_restores_what_the_notice_left(
    client, manager, approver, four_channels, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    plan = _plan(manager, approver, four_channels, kinds=("notice", "hard_close"))
    _run(plan, "notice")
    after_notice = {
        "posts": [p["id"] for p in fake_x.posts()],
        "categories": copy.deepcopy(fake_discourse.categories),
        "topics": _forum_text(fake_discourse),
        "localizations": copy.deepcopy(fake_youtube.localizations),
        "profile": copy.deepcopy(fake_messenger.profile),
        "branding": copy.deepcopy(fake_youtube.branding),
    }
    hard = _run(plan, "hard_close")
    assert fake_discourse.categories != after_notice["categories"]
    # The rollback page says which public changes it will put back.
    client.force_login(manager)
    page = client.get(reverse("run_rollback", args=[hard.pk])).content.decode()
    for action in ("post", "update_topic", "read_only", "greeting", "description", "localizations"):
        assert f'data-publication="{action}"' in page, action

    rollback_run(actor=manager, run=hard, reason="The new help centre is down")
    assert [p["id"] for p in fake_x.posts()] == after_notice["posts"]
    assert fake_discourse.categories == after_notice["categories"]
    assert _forum_text(fake_discourse) == after_notice["topics"]
    assert fake_youtube.localizations == after_notice["localizations"]
    assert fake_messenger.profile == after_notice["profile"]
    assert fake_youtube.branding == after_notice["branding"]
    hard.refresh_from_db()
    assert hard.rollback_summary["public_changes_restored"] == 8
    assert hard.rollback_summary["public_changes_not_restored"] == []
    assert AuditEvent.objects.filter(action="publication.restored").count() == 8
    assert Publication.objects.filter(run=hard, state=PublicationState.RESTORED).count() == 8


@pytest.mark.django_db(transaction=True)
def test_rolling_back_the_notice_restores_every_platform_exactly(
    manager, approver, four_channels, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    before = {
        "categories": copy.deepcopy(fake_discourse.categories),
        "profile": copy.deepcopy(fake_messenger.profile),
        "branding": copy.deepcopy(fake_youtube.branding),
        "localizations": copy.deepcopy(fake_youtube.localizations),
    }
    plan = _plan(manager, approver, four_channels, kinds=("notice", "hard_close"))
    notice = _run(plan, "notice")
    rollback_run(actor=manager, run=notice, reason="Announced too early")
    assert fake_x.posts() == [] and fake_discourse.live_topics() == []
    assert fake_discourse.categories == before["categories"]
    assert fake_messenger.profile == before["profile"]  # the earlier greeting, no ice breakers
    assert fake_youtube.branding == before["branding"]
    assert fake_youtube.localizations == before["localizations"]


@pytest.mark.django_db(transaction=True)
def test_a_platform_refusing_a_change_fails_only_that_channel_and_shows_its_message(
    manager, approver, four_channels, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    fake_discourse.api_user_is_staff = False  # may create topics, not pin them
    plan = _plan(manager, approver, four_channels, kinds=("notice", "hard_close"))
    notice = _run(plan, "notice", expected=[RunState.COMPLETED_WITH_FAILURES])
    assert fake_discourse.live_topics() == []  # nothing half-applied on the forum
    assert len(fake_x.posts()) == 2 and fake_messenger.profile_writes == 1 and fake_youtube.branding_writes == 1
    failed = Publication.objects.get(run=notice, state=PublicationState.FAILED)
    assert failed.channel.kind == "discourse" and "You are not permitted" in failed.error
    notice.refresh_from_db()
    assert notice.state == RunState.COMPLETED_WITH_FAILURES
    assert any("Brand forum: announce:" in e["error"] and "not permitted" in e["error"] for e in notice.errors)


@pytest.mark.django_db(transaction=True)
def test_a_change_refused_after_others_on_the_same_platform_undoes_them(
    client, manager, approver, four_channels, fake_x, fake_discourse, fake_messenger, fake_youtube
):
    """The forum's API user lost its moderator rights between the notice and the hard close: the
    topic's text is changed, then the first category refused. The topic gets its text back and
    the second category is not touched: the forum shows what it showed; the other platforms
    carry the hard close. Fixed, a retry from the run page makes the forum's three changes."""
    plan = _plan(manager, approver, four_channels, kinds=("notice", "hard_close"))
    _run(plan, "notice")
    (topic,) = fake_discourse.live_topics()
    categories = copy.deepcopy(fake_discourse.categories)
    fake_discourse.api_user_is_staff = False
    hard = _run(plan, "hard_close", expected=[RunState.COMPLETED_WITH_FAILURES])
    forum = {p.action + p.target: p for p in Publication.objects.filter(run=hard, channel__kind="discourse")}
    assert forum["update_topic" + str(topic["id"])].state == PublicationState.FAILED
    assert forum["update_topic" + str(topic["id"])].error == "undone: a later change on this channel was refused"
    assert "not permitted" in forum["read_only12"].error
    assert forum["read_only13"].error == "not made: an earlier change on this channel was refused"
    assert fake_discourse.topic(topic["id"])["raw"] == topic["raw"]  # its earlier text, back
    assert fake_discourse.categories == categories
    assert AuditEvent.objects.filter(action="publication.undone").count() == 1
    assert fake_youtube.branding["channel"]["description"].startswith("Support has moved")
    assert [p["text"][:17] for p in fake_x.posts()][2:] == ["Support has moved", "Le support a démé"]
    hard.refresh_from_db()
    assert hard.steps[Step.PUBLISHING]["done"] == 5 and hard.steps[Step.PUBLISHING]["failed"] == 3
    client.force_login(manager)
    page = client.get(reverse("run_detail", args=[hard.pk])).content.decode()
    assert "undone: a later change on this channel was refused" in page

    fake_discourse.api_user_is_staff = True
    assert client.post(reverse("run_retry_deliveries", args=[hard.pk])).status_code == 302
    assert publish_run_changes(run_id=hard.pk) == RunState.COMPLETED
    assert fake_discourse.topic(topic["id"])["raw"].startswith("Support has moved")
    assert fake_discourse.categories[12]["permissions"] == {"everyone": 3, "staff": 1}
    assert fake_discourse.categories[13]["permissions"] == {"everyone": 3, "staff": 1}
    assert not Publication.objects.filter(run=hard).exclude(state=PublicationState.PUBLISHED).exists()
    assert fake_discourse.violations == []


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
    assert len(fake_x.posts()) == 2 and fake_messenger.profile_writes == 1 and fake_youtube.branding_writes == 1
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
    changes = {(c.action, c.target): c for c in dry_run(notice).public_changes}
    assert set(changes) == {
        ("post", "en"),
        ("post", "fr"),
        ("announce", ""),
        ("greeting", ""),
        ("description", ""),
        ("localizations", ""),
    }
    assert changes["post", "en"].change["text"].startswith("Support here closes on")
    assert changes["localizations", ""].change["texts"]["fr"].startswith("Le support ici ferme")
    changes = {action: c for (action, _), c in changes.items()}
    assert changes["announce"].problem == "No announcement category is set for this forum."
    client.force_login(manager)
    page = client.get(reverse("phase_dry_run", args=[plan.pk, notice.pk])).content.decode()
    assert 'data-public-change="greeting"' in page and "No announcement category is set for this forum." in page
    assert "(en, fr)" in page  # the locales each change publishes
    hard = {c.action for c in dry_run(plan.phases.get(kind="hard_close")).public_changes}
    # The topic's text is listed (the notice will have published it); no category to make
    # read-only.
    assert hard == {"post", "update_topic", "greeting", "description", "localizations"}
    # The plan's preview in the API and the cutover_preview command list them too.
    out = io.StringIO()
    call_command("cutover_preview", str(plan.pk), "--phase", "notice", stdout=out)
    assert "public notice, Brand on X: Post on the brand's timeline (fr)" in out.getvalue()
    assert (
        "public notice, Brand forum: Announcement topic, pinned globally (en): CANNOT: No announcement"
        in out.getvalue()
    )
    body = api(manager).get(f"/api/v1/plans/{plan.pk}/preview/", {"phase": notice.pk}).json()
    (phase,) = body["phases"]
    listed = {(c["action"], c["target"]): c for c in phase["public_changes"]}
    assert listed["post", "fr"]["locales"] == ["fr"] and listed["post", "fr"]["text"].startswith("Le support ici")
    assert (
        listed["greeting", ""]["texts"]["fr_FR"].startswith("Le support ici")
        and listed["greeting", ""]["platform"] == "messenger"
    )
    assert listed["announce", ""]["problem"] == "No announcement category is set for this forum."
    for fake in (fake_x, fake_discourse, fake_messenger, fake_youtube):
        assert [r for r in fake.received if r.method != "GET"] == []  # the dry run changed nothing
