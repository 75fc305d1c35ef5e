"""The public notice published by real Celery workers on PostgreSQL and the real broker: a worker
SIGKILLed while a publication is in doubt (its request made, its success not recorded) is
replaced, and the next worker looks the change up on the platform instead of making it again."""

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest

from channels_app.models import CutoverRun, Publication, PublicationState, RunState
from channels_app.tests.support.fakeplatforms import FakeDiscourse, FakeMessenger, FakeYouTube, serve
from channels_app.tests.support.helpers import wait_for
from channels_app.tests.support.notice_helpers import four_platform_channels, notice_plan

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# A run is reaped 3 s after its worker died; requests and waits are bounded to fit in that.
FAST = {
    "DUSK_RUN_STUCK_AFTER": "3",
    "DUSK_OUTBOX_HTTP_TIMEOUT": "0.8",
    "DUSK_PUBLICATION_MAX_WAIT": "0.5",
}


@pytest.fixture
def fake_discourse() -> Iterator[FakeDiscourse]:
    yield from serve(FakeDiscourse())


@pytest.fixture
def fake_messenger() -> Iterator[FakeMessenger]:
    yield from serve(FakeMessenger())


@pytest.fixture
def fake_youtube() -> Iterator[FakeYouTube]:
    yield from serve(FakeYouTube())


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
    killed_during = trial % 4  # the position of the publication in doubt when the worker dies
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
    assert [p.state for p in publications] == [PublicationState.PUBLISHED] * 4
    # Each change made once on each platform, whatever was in doubt.
    assert len(fake_x.posts()) == 1
    assert len([r for r in fake_x.received if r.method == "POST" and r.path == "/2/tweets"]) == 1
    (topic,) = fake_discourse.live_topics()
    assert topic["pinned_globally"] and topic["pin_changes"] == 1
    assert len([r for r in fake_discourse.received if r.method == "POST" and r.path == "/posts.json"]) == 1
    assert fake_messenger.profile_writes == 1 and fake_youtube.branding_writes == 1
