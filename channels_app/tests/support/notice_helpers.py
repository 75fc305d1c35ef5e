"""Helpers for the public-notice tests: a plan with a public notice retiring an X, a Discourse, a
Messenger and a YouTube channel, each wired to its fake platform."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from channels_app.cutover.services.engine import claim_due_phases, run_cutover
from channels_app.models import CutoverRun
from channels_app.plans.services.plans import AutoReplyInput, PublicNoticeInput
from channels_app.tests.support.helpers import REDIRECTS, approved_plan, utc_phase
from channels_app.tests.support.inbound_helpers import REPLIES, platform_channel

NOTICES = [
    PublicNoticeInput(
        "en",
        "Support here closes on {date}. From then: {redirect_url} or {phone}.",
        moved_text="Support has moved: {redirect_url} or {phone}.",
        title="Our support moves to the help centre",
        body="From {date} we answer at {redirect_url} and on {phone}. Thank you for being here.",
    ),
    PublicNoticeInput(
        "fr",
        "Le support ici ferme le {date}. Ensuite : {redirect_url} ou {phone}.",
        moved_text="Le support a déménagé : {redirect_url} ou {phone}.",
    ),
]


def four_platform_channels(fake_x, fake_discourse, fake_messenger, fake_youtube) -> list:
    """X, Discourse (announcement in category 12; 12 and 13 made read-only), Messenger (with an
    earlier greeting) and YouTube channels on the fakes. Needs the platform_secrets fixture."""
    fake_messenger.profile = {"greeting": [{"locale": "default", "text": "Hi {{user_first_name}}! Ask us anything."}]}
    return [
        platform_channel("x", fake_x.base_url, name="Brand on X"),
        platform_channel(
            "discourse",
            fake_discourse.base_url,
            name="Brand forum",
            notice_settings={"announcement_category": 12, "read_only_categories": [12, 13]},
        ),
        platform_channel("messenger", fake_messenger.base_url, name="Brand on Messenger"),
        platform_channel("youtube", fake_youtube.base_url, name="Brand on YouTube"),
    ]


def notice_plan(manager, approver, channels, kinds=("notice", "soft_close", "hard_close", "archive"), **kwargs):
    start = timezone.now() + timedelta(minutes=5)
    phases = [utc_phase(kind, start + timedelta(days=i)) for i, kind in enumerate(kinds)]
    replies = [r for r in REPLIES if r.phase_kind in kinds]
    if "archive" in kinds:
        replies.append(AutoReplyInput("archive", "en", "Support moved: {redirect_url}"))
    return approved_plan(
        manager=manager,
        approver=approver,
        channels=channels,
        phases=phases,
        auto_replies=replies,
        redirects=REDIRECTS,
        public_notices=kwargs.pop("public_notices", NOTICES),
        **kwargs,
    )


def claim(plan, kind) -> CutoverRun:
    """Claim the phase's run (queued, not run)."""
    phase = plan.phases.get(kind=kind)
    (run_id,) = claim_due_phases(now=phase.instant + timedelta(seconds=1))
    return CutoverRun.objects.select_related("plan", "phase").get(pk=run_id)


def run_phase(plan, kind, expected=("completed", "delivering")) -> CutoverRun:
    run = claim(plan, kind)
    assert run_cutover(run_id=run.pk, worker_id="test") in expected
    run.refresh_from_db()
    return run
