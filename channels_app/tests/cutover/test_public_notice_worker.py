"""The public notice published by real Celery workers on PostgreSQL and the real broker: a worker
SIGKILLed while a publication is in doubt (its request made, its success not recorded) is
replaced, and the next worker looks the change up on the platform instead of making it again."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.models import CutoverRun, Publication, PublicationState, RunState
from channels_app.tests.support.helpers import wait_for
from channels_app.tests.support.notice_helpers import four_platform_channels, notice_plan

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# A run is reaped 3 s after its worker died; requests and waits are bounded to fit in that.
FAST = {
    "DUSK_RUN_STUCK_AFTER": "3",
    "DUSK_OUTBOX_HTTP_TIMEOUT": "0.8",
    "DUSK_PUBLICATION_MAX_WAIT": "0.5",
}


# One trial per publication by default; PUBLICATION_FAULT_TRIALS=20 kills five times at each.
TRIALS = int(os.environ.get("PUBLICATION_FAULT_TRIALS", "4"))


@pytest.mark.parametrize("trial", range(TRIALS))
def test_a_worker_killed_mid_publication_leaves_each_change_made_once(
    trial,
    manager,
    approver,
    platform_secrets,
    fake_x,
    fake_discourse,
    fake_messenger,
    fake_youtube,
    celery_workers,
):
    # The position of the publication in doubt when the worker dies: X's two posts, the forum's
    # topic, Messenger's greeting, YouTube's description and localizations.
    killed_during = (trial * 5) % 6
    channels = four_platform_channels(fake_x, fake_discourse, fake_messenger, fake_youtube)
    first = celery_workers("first", **FAST, DUSK_PUBLICATION_PAUSE="2")
    first.wait_ready()
    plan = notice_plan(manager, approver, channels, kinds=("notice", "hard_close"))
    # The plan's notice is due now: the beat sweep of the first worker claims it.
    plan.phases.filter(kind="notice").update(instant=plan.phases.get(kind="notice").instant - timedelta(minutes=6))

    def in_doubt():
        return Publication.objects.filter(
            run__plan=plan, position=killed_during, state=PublicationState.PUBLISHING, attempts=1
        ).first()

    wait_for(in_doubt, timeout=90, message=f"publication {killed_during} in doubt\n{first.log()[-3000:]}")
    first.kill()

    second = celery_workers("second", **FAST)
    run = wait_for(
        lambda: CutoverRun.objects.filter(plan=plan, state=RunState.COMPLETED).first(),
        timeout=150,
        message=f"the second worker to finish\n{second.log()[-3000:]}",
    )
    assert run.attempts >= 2 and run.worker_id.startswith("second@")
    publications = list(Publication.objects.filter(run=run).order_by("position"))
    assert [p.state for p in publications] == [PublicationState.PUBLISHED] * 6
    # Each change made once on each platform, whatever was in doubt.
    assert len(fake_x.posts()) == 2
    assert len([r for r in fake_x.received if r.method == "POST" and r.path == "/2/tweets"]) == 2
    (topic,) = fake_discourse.live_topics()
    assert topic["pinned_globally"] and topic["pin_changes"] == 1
    assert len([r for r in fake_discourse.received if r.method == "POST" and r.path == "/posts.json"]) == 1
    assert fake_messenger.profile_writes == 1 and fake_youtube.branding_writes == 1
    assert fake_youtube.localization_writes == 1


def test_a_worker_publishes_notice_hard_close_and_archive_each_once(
    manager, approver, platform_secrets, fake_x, fake_discourse, fake_messenger, fake_youtube, celery_workers
):
    """A real worker (its beat sweep claiming each phase when due) runs notice, soft close, hard
    close and archive: each fake platform ends in the documented state, each change made once."""
    channels = four_platform_channels(fake_x, fake_discourse, fake_messenger, fake_youtube)
    worker = celery_workers("phases", **FAST)
    worker.wait_ready()
    plan = notice_plan(manager, approver, channels)
    runs = {}
    for kind in ("notice", "soft_close", "hard_close", "archive"):
        phase = plan.phases.get(kind=kind)
        # Due now, the phases before it done: the sweep claims it.
        plan.phases.filter(pk=phase.pk).update(instant=timezone.now() - timedelta(seconds=1))
        runs[kind] = wait_for(
            lambda phase=phase: CutoverRun.objects.filter(phase=phase, state=RunState.COMPLETED).first(),
            timeout=120,
            message=f"the {kind} run to complete\n{worker.log()[-3000:]}",
        )
        if kind == "notice":
            (topic,) = fake_discourse.live_topics()
            assert topic["pinned_globally"] and topic["category_id"] == 12
            assert [p["text"][:14] for p in fake_x.posts()] == ["Support here c", "Le support ici"]
    counts = {kind: Publication.objects.filter(run=run).count() for kind, run in runs.items()}
    assert counts == {"notice": 6, "soft_close": 0, "hard_close": 8, "archive": 1}
    assert not Publication.objects.exclude(state=PublicationState.PUBLISHED).exists()
    # The documented end state: the banner unpinned with its has-moved text, the categories
    # read-only for everyone but staff, the greeting and the descriptions replaced.
    (topic,) = fake_discourse.live_topics()
    assert not topic["pinned_globally"] and topic["raw"].startswith("Support has moved")
    assert topic["pin_changes"] == 2 and topic["version"] == 2
    for category in (12, 13):
        assert fake_discourse.categories[category]["permissions"] == {"everyone": 3, "staff": 1}
    greeting = {g["locale"]: g["text"] for g in fake_messenger.profile["greeting"]}
    assert greeting["default"].startswith("Support has moved") and greeting["fr_FR"].startswith("Le support a")
    assert fake_youtube.branding["channel"]["description"].startswith("Support has moved")
    assert fake_youtube.localizations["fr"]["description"].startswith("Le support a déménagé")
    # Each change once.
    assert len([r for r in fake_x.received if r.method == "POST" and r.path == "/2/tweets"]) == 4
    assert len([r for r in fake_discourse.received if r.method == "POST" and r.path == "/posts.json"]) == 1
    assert len([r for r in fake_discourse.received if r.method == "PUT" and r.path.startswith("/posts/")]) == 1
    assert len([r for r in fake_discourse.received if r.method == "PUT" and r.path.startswith("/categories/")]) == 2
    assert fake_messenger.profile_writes == 2
    assert fake_youtube.branding_writes == 2 and fake_youtube.localization_writes == 2
    for fake in (fake_x, fake_discourse, fake_messenger, fake_youtube):
        assert fake.violations == []
