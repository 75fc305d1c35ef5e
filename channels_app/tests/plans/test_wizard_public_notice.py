"""The public notice in the wizard: written below the replies, previewed per platform with that
platform's own limit, refused with a clear error when it does not fit, kept when a plan is edited."""

import pytest
from django.urls import reverse

from channels_app.models import PlanDraft, PublicNotice, SunsetPlan
from channels_app.plans.services.drafts import open_plan_draft, save_plan_draft
from channels_app.tests.support.factories import ChannelFactory

pytestmark = pytest.mark.django_db

PHASES = [
    {"kind": "notice", "local_date": "2027-09-01", "local_time": "09:00", "time_zone": "Europe/Paris"},
    {"kind": "hard_close", "local_date": "2027-10-01", "local_time": "09:00", "time_zone": "Europe/Paris"},
]
REDIRECTS = [{"kind": "url", "label": "Help centre", "value": "https://help.example/contact", "expected_share": 0.0}]
REPLIES = [
    {"phase_kind": "notice", "locale": "en", "text": "We close here on {date}."},
    {"phase_kind": "hard_close", "locale": "en", "text": "We moved: {redirect_url}"},
]
NOTICE = {
    "locale": "en",
    "text": "Support here closes on {date}: {redirect_url}",
    "moved_text": "Support has moved: {redirect_url}",
    "title": "Our support moves to the help centre",
    "body": "From {date} we answer at {redirect_url}. Thank you for being here.",
}


def _channels():
    return [ChannelFactory(kind=kind, name=f"Brand {kind}") for kind in ("x", "messenger", "youtube", "discourse")]


def _draft(manager, **data) -> PlanDraft:
    draft = open_plan_draft(actor=manager, plan=None)
    base = {"title": "Retire social", "channel_ids": [c.pk for c in _channels()], "phases": PHASES}
    return save_plan_draft(actor=manager, draft=draft, data={**base, "redirects": REDIRECTS, **data})


def _replies_step(client, notices: list[dict]):
    data = {"step": "replies", "action": "next", "replies-TOTAL_FORMS": str(len(REPLIES)), "replies-INITIAL_FORMS": "0"}
    for i, row in enumerate(REPLIES):
        data |= {f"replies-{i}-{k}": v for k, v in row.items()}
    data |= {"notices-TOTAL_FORMS": str(len(notices)), "notices-INITIAL_FORMS": "0"}
    for i, row in enumerate(notices):
        data |= {f"notices-{i}-{k}": v for k, v in row.items()}
    return client.post(reverse("plan_new"), data)


def _preview(client, draft, **fields) -> str:
    data = {"row": "0"} | {f"notices-0-{k}": v for k, v in fields.items()}
    response = client.post(reverse("plan_draft_notice_preview", args=[draft.pk]), data)
    assert response.status_code == 200
    return response.content.decode()


def test_the_preview_shows_the_notice_on_each_platform_with_its_own_limit(client, manager):
    draft = _draft(manager)
    client.force_login(manager)
    html = _preview(client, draft, locale="en", text="Support here closes on {date}: {redirect_url}", title="Moving")
    assert 'class="pv pv-x"' in html and 'class="pv pv-messenger"' in html and 'class="pv pv-youtube"' in html
    assert "Support here closes on 1 October 2027: https://help.example/contact" in html
    assert "/ 280 weighted characters" in html and "/ 160 characters" in html and "/ 1000 characters" in html
    # A forum title under Discourse's 15 characters is said at once.
    assert "Too short for Discourse: 6 characters, at least 15" in html

    html = _preview(client, draft, locale="en", text="a" * 170)
    assert "Too long for Messenger: 170 of 160 characters" in html
    assert "Too long for X" not in html and "Too long for YouTube" not in html


def test_a_notice_that_fits_is_saved_with_the_plan(client, manager):
    _draft(manager)
    client.force_login(manager)
    response = _replies_step(client, [NOTICE, {"locale": "fr", "text": "Le support ferme le {date}."}])
    assert response.status_code == 302, response.content.decode()[:2000]
    plan = SunsetPlan.objects.get()
    assert {n.locale: n.text for n in plan.public_notices.all()} == {
        "en": NOTICE["text"],
        "fr": "Le support ferme le {date}.",
    }
    assert plan.public_notices.get(locale="en").title == NOTICE["title"]


def test_an_over_long_or_empty_notice_is_refused_and_nothing_is_saved(client, manager):
    _draft(manager)
    client.force_login(manager)
    response = _replies_step(client, [{**NOTICE, "text": "a" * 170}])
    assert response.status_code == 422
    assert "Too long for Messenger: 170 of 160 characters" in response.content.decode()
    response = _replies_step(client, [{**NOTICE, "title": ""}])
    assert response.status_code == 422
    assert "Write it: Discourse publishes it." in response.content.decode()
    response = _replies_step(client, [{**NOTICE, "text": "Dear {customer_name}, we close"}])
    assert response.status_code == 422
    assert "Unknown placeholder {customer_name}" in response.content.decode()
    assert not SunsetPlan.objects.exists() and not PublicNotice.objects.exists()
    # What was typed stays in the draft.
    assert PlanDraft.objects.get(author=manager).data["public_notices"][0]["locale"] == "en"


def test_editing_a_plan_keeps_its_notice(client, manager):
    _draft(manager)
    client.force_login(manager)
    assert _replies_step(client, [NOTICE]).status_code == 302
    plan = SunsetPlan.objects.get()
    draft = open_plan_draft(actor=manager, plan=plan)
    assert draft.data["public_notices"][0]["title"] == NOTICE["title"]
    page = client.get(reverse("plan_edit", args=[plan.pk]) + "?step=replies").content.decode()
    assert NOTICE["title"] in page and 'name="notices-0-moved_text"' in page
