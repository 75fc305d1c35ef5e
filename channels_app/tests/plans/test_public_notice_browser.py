"""The public notice walked in Chromium: Maya (manager) writes it below the replies and sees it
on each platform with that platform's limit; Arjun (approver) sees it in the review and, once it
changed, in the review's diff. Screenshots go to artifacts/screenshots/ (notice-*.png); no page
may cause a Content-Security-Policy violation."""

import pytest

from channels_app.models import SunsetPlan
from channels_app.plans.services.drafts import open_plan_draft, save_plan_draft
from channels_app.plans.services.plans import (
    AutoReplyInput,
    PhaseInput,
    PublicNoticeInput,
    RedirectInput,
    reject_plan,
    submit_plan,
    update_plan,
)
from channels_app.tests.support.factories import ChannelFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHASES = [
    {"kind": "notice", "local_date": "2027-09-01", "local_time": "09:00", "time_zone": "Europe/Paris"},
    {"kind": "hard_close", "local_date": "2027-10-01", "local_time": "09:00", "time_zone": "Europe/Paris"},
]
WEB = {"kind": "url", "label": "Contact form", "value": "https://help.lumen.example/contact", "expected_share": 0.0}


def _no_csp_violation(session) -> None:
    session.check_csp()
    assert not session.violations, session.violations


def test_maya_writes_the_notice_with_previews_and_arjun_reviews_it(browse, manager, approver):
    channels = [
        ChannelFactory(kind=kind, name=f"Lumen {name}", handle=f"@lumen-{kind}")
        for kind, name in (
            ("x", "on X"),
            ("messenger", "on Messenger"),
            ("youtube", "on YouTube"),
            ("discourse", "forum"),
        )
    ]
    data = {"title": "Retire social support", "channel_ids": [c.pk for c in channels], "default_locale": "en"}
    save_plan_draft(
        actor=manager,
        draft=open_plan_draft(actor=manager),
        data={**data, "phases": PHASES, "redirects": [WEB]},
        step="replies",
    )
    maya = browse("manager")
    maya.login("maya")
    page = maya.goto("/plans/new/?step=replies")
    page.locator('[name="replies-0-text"]').fill("We close here on {date}: {redirect_url}")
    page.locator('[name="replies-1-text"]').fill("We moved: {redirect_url}")

    page.get_by_role("button", name="Add a public notice language").click()
    page.locator('[name="notices-0-text"]').fill("Support here closes on {date}. Write to us: {redirect_url}")
    preview = page.locator("#notice-preview-0")
    preview.locator(".pv-x .pv-text").filter(
        has_text="Support here closes on 1 October 2027. Write to us: https://help.lumen.example/contact"
    ).wait_for()
    assert preview.locator(".pv-messenger .counter").inner_text().endswith("/ 160 characters")
    assert "weighted characters" in preview.locator(".pv-x .counter").inner_text()
    # Too long for Messenger's greeting: said at once, on that platform only.
    page.locator('[name="notices-0-text"]').fill("Support here closes on {date}. " + "Please write to us. " * 8)
    preview.locator(".pv-messenger .field-error").filter(has_text="Too long for Messenger").wait_for()
    assert preview.locator(".pv-x .field-error").count() == 0
    maya.shot("notice-wizard-too-long")
    page.locator('[name="notices-0-text"]').fill("Support here closes on {date}. Write to us: {redirect_url}")
    page.locator('[name="notices-0-moved_text"]').fill("Support has moved: {redirect_url}")
    page.locator('[name="notices-0-title"]').fill("Our support moves to the help centre")
    page.locator('[name="notices-0-body"]').fill("From {date} we answer at {redirect_url}. Thank you!")
    preview.locator(".pv-discourse").first.wait_for()
    # The forum's topic gets the "has moved" text too, within the forum's post limits.
    preview.locator(".pv-discourse .pv-text").filter(has_text="Support has moved: https://help.lumen").wait_for()
    maya.shot("notice-wizard")
    page.get_by_role("button", name="Save draft and see the impact").click()
    page.wait_for_url("**/plans/*/")
    notice = page.locator('[data-notice="en"]')
    assert "Support here closes on {date}" in notice.inner_text()
    maya.shot("notice-plan-page")
    _no_csp_violation(maya)

    # Submitted, sent back, the notice changed, submitted again: Arjun sees it and its change.
    plan = SunsetPlan.objects.get()
    submit_plan(actor=manager, plan=plan)
    reject_plan(actor=approver, plan=plan, comment="Say when the forum closes")
    update_plan(
        actor=manager,
        plan=plan,
        title=plan.title,
        channel_ids=[c.pk for c in channels],
        phases=[PhaseInput(p["kind"], *_local(p)) for p in PHASES],
        redirects=[RedirectInput("url", WEB["label"], WEB["value"])],
        auto_replies=[
            AutoReplyInput("notice", "en", "We close here on {date}: {redirect_url}"),
            AutoReplyInput("hard_close", "en", "We moved: {redirect_url}"),
        ],
        public_notices=[
            PublicNoticeInput(
                "en",
                "Support here and on the forum closes on {date}: {redirect_url}",
                "Support has moved: {redirect_url}",
                "Our support moves to the help centre",
                "From {date} we answer at {redirect_url}. Thank you!",
            )
        ],
    )
    submit_plan(actor=manager, plan=plan)
    arjun = browse("approver")
    arjun.login("arjun")
    review = arjun.goto(f"/approvals/{plan.pk}/")
    assert "Support here and on the forum closes on {date}" in review.locator('[data-notice="en"]').inner_text()
    changes = review.get_by_text("Public notice", exact=True)
    assert changes.count() >= 2  # the section and its line in the diff
    assert "Support here closes on {date}" in review.content()  # the version before, in the diff
    arjun.shot("notice-review")
    _no_csp_violation(arjun)


def _local(phase: dict):
    from datetime import date, time

    return date.fromisoformat(phase["local_date"]), time.fromisoformat(phase["local_time"]), phase["time_zone"]
