"""The wizard's findings, each walked in Chromium as Maya (a manager) and named after what it
found: what the screen says must be what happened. Screenshots go to artifacts/screenshots/
(wizard-*.png); no test may cause a Content-Security-Policy violation."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.models import PlanDraft, SunsetPlan
from channels_app.plans.services.drafts import open_plan_draft, save_plan_draft
from channels_app.plans.services.plans import AutoReplyInput
from channels_app.tests.support.factories import ChannelFactory
from channels_app.tests.support.helpers import hard_close_plan, utc_phase, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HARD_CLOSE = {"kind": "hard_close", "local_date": "2027-10-01", "local_time": "09:00", "time_zone": "Europe/Paris"}
PHONE = {"kind": "phone", "label": "Phone support", "value": "+1 800 555 0100", "expected_share": 0.0}
WEB = {"kind": "url", "label": "Contact form", "value": "https://help.lumen.example/contact", "expected_share": 0.0}


def _draft(manager, step: str, **data) -> PlanDraft:
    """Maya's draft, with the steps before `step` already filled in."""
    channel = ChannelFactory(kind="x", name="Lumen on X", handle="@LumenSupport")
    data = {"title": "Retire support on X", "channel_ids": [channel.pk], "default_locale": "en", **data}
    return save_plan_draft(actor=manager, draft=open_plan_draft(actor=manager), data=data, step=step)


def _maya(browse, path: str):
    maya = browse("manager")
    maya.login("maya")
    maya.goto(path)
    return maya, maya.page


def _no_csp_violation(maya) -> None:
    maya.check_csp()
    assert not maya.violations, maya.violations


def _preview_text(page, row: int = 0):
    return page.locator(f"#preview-{row} .pv-x .pv-text")


# --- the findings ------------------------------------------------------------------------------


def test_date_placeholder_is_localised_in_french_and_indonesian_replies(browse, manager):
    _draft(manager, "replies", phases=[HARD_CLOSE], redirects=[PHONE])
    maya, page = _maya(browse, "/plans/new/?step=replies")

    page.locator('[name="replies-0-locale"]').select_option("fr")
    page.get_by_label("Reply text").first.fill("Bonjour {customer_name}, ce canal ferme le {date}. Appelez le {phone}.")
    expect = "Bonjour Alex, ce canal ferme le 1 octobre 2027. Appelez le +1 800 555 0100."
    _preview_text(page).filter(has_text=expect).wait_for()

    page.get_by_role("button", name="Add a reply").click()
    page.locator('[name="replies-1-locale"]').select_option("id")
    page.locator('[name="replies-1-text"]').fill("Halo {customer_name}, kanal ini ditutup pada {date}.")
    _preview_text(page, 1).filter(has_text="Halo Alex, kanal ini ditutup pada 1 Oktober 2027.").wait_for()
    # Changing a reply's language re-renders its preview in that language.
    page.locator('[name="replies-1-locale"]').select_option("en")
    _preview_text(page, 1).filter(has_text="ditutup pada 1 October 2027.").wait_for()
    page.locator('[name="replies-1-locale"]').select_option("id")
    _preview_text(page, 1).filter(has_text="1 Oktober 2027").wait_for()
    assert "01 October" not in page.content()
    maya.shot("wizard-date-localised")
    _no_csp_violation(maya)


def test_preview_warns_of_empty_placeholders_while_phases_or_redirects_are_missing(browse, manager):
    _draft(manager, "replies")
    maya, page = _maya(browse, "/plans/new/?step=replies")

    page.get_by_label("Reply text").first.fill("Closing on {date}. Call {phone} or visit {redirect_url}.")
    warning = page.locator("#preview-0 .empty-placeholders")
    warning.wait_for()
    assert warning.inner_text() == (
        "This reply would say {date}, {phone}, {redirect_url} with nothing in it: add a hard close phase; "
        "add a phone redirect; add a URL, app or phone redirect."
    )
    maya.shot("wizard-empty-placeholders-warned")

    # Maya adds what the warning asks for: a hard close, then a phone redirect.
    page.get_by_role("link", name=re.compile(r"Phases")).click()
    page.wait_for_url(re.compile(r"step=phases"))
    page.get_by_label("Date").fill("2027-10-01")
    page.get_by_label("Time", exact=True).fill("09:00")
    page.get_by_role("button", name="Save and continue").last.click()
    page.wait_for_url(re.compile(r"step=redirects"))
    page.get_by_label("Label").first.fill("Phone support")
    page.get_by_label("Number or address").first.fill("+1 800 555 0100")
    page.locator('[name="redirects-1-DELETE"]').check()  # the web form row is not needed
    page.get_by_role("button", name="Save and continue").last.click()
    page.wait_for_url(re.compile(r"step=replies"))

    _preview_text(page).filter(has_text="Closing on 1 October 2027. Call +1 800 555 0100").wait_for()
    assert page.locator("#preview-0 .empty-placeholders").count() == 0
    maya.shot("wizard-empty-placeholders-filled")
    _no_csp_violation(maya)


def test_blank_reply_rows_are_refused_not_dropped_silently(browse, manager):
    _draft(manager, "replies", phases=[HARD_CLOSE], redirects=[PHONE])
    maya, page = _maya(browse, "/plans/new/?step=replies")

    page.get_by_label("Reply text").first.fill("Support moved: call {phone}.")
    page.get_by_role("button", name="Add a reply").click()
    page.locator('[name="replies-1-text"]').wait_for()
    page.get_by_role("button", name="Save draft and see the impact").click()

    page.get_by_text("Reply row 2 is empty: write the reply or remove the row.").wait_for()
    assert "/plans/new/" in page.url and not SunsetPlan.objects.exists()
    assert page.locator('[name="replies-0-text"]').input_value() == "Support moved: call {phone}."
    maya.shot("wizard-blank-reply-refused")

    page.locator('[name="replies-1-DELETE"]').check()
    page.get_by_role("button", name="Save draft and see the impact").click()
    page.wait_for_url(re.compile(r"/plans/\d+/$"))
    assert SunsetPlan.objects.get().auto_replies.count() == 1
    _no_csp_violation(maya)


def test_replies_are_listed_in_phase_order(browse, manager):
    start = timezone.now() + timedelta(days=20)
    phases = [utc_phase(k, start + timedelta(days=i)) for i, k in enumerate(["notice", "soft_close", "hard_close"])]
    replies = [
        AutoReplyInput("hard_close", "en", "Closed: call {phone}."),
        AutoReplyInput("soft_close", "en", "No new cases here."),
        AutoReplyInput("notice", "fr", "Nous fermons le {date}."),
        AutoReplyInput("notice", "en", "We close on {date}."),
    ]
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory(kind="x")], phases=phases, auto_replies=replies)
    maya, page = _maya(browse, f"/plans/{plan.pk}/edit/?step=replies")

    kinds = [page.locator(f'[name="replies-{i}-phase_kind"]').input_value() for i in range(4)]
    locales = [page.locator(f'[name="replies-{i}-locale"]').input_value() for i in range(4)]
    assert kinds == ["notice", "notice", "soft_close", "hard_close"]
    assert locales == ["en", "fr", "en", "en"]
    maya.shot("wizard-replies-in-phase-order")
    _no_csp_violation(maya)


def test_redirect_shares_must_total_100_percent(browse, manager):
    _draft(manager, "redirects", phases=[HARD_CLOSE])
    maya, page = _maya(browse, "/plans/new/?step=redirects")

    page.get_by_label("Label").first.fill("Phone support")
    page.get_by_label("Number or address").first.fill("+1 800 555 0100")
    page.get_by_label("Label").nth(1).fill("Contact form")
    page.get_by_label("Number or address").nth(1).fill("https://help.lumen.example/contact")
    page.get_by_label("Expected share (%)").first.fill("50")
    page.get_by_label("Expected share (%)").nth(1).fill("30")
    page.get_by_role("button", name="Save and continue").last.click()

    page.get_by_text("Expected shares add up to 80%; when given, they must total 100%.").wait_for()
    assert "step=redirects" in page.url or page.url.endswith("/plans/new/")
    maya.shot("wizard-shares-refused")
    page.get_by_label("Expected share (%)").first.fill("70")
    page.get_by_role("button", name="Save and continue").last.click()
    page.wait_for_url(re.compile(r"step=replies"))
    shares = [r["expected_share"] for r in PlanDraft.objects.get(author=manager).data["redirects"]]
    assert shares == [0.7, 0.3]
    _no_csp_violation(maya)


# --- the wizard made pleasant ------------------------------------------------------------------------


def test_a_new_phase_row_inherits_the_time_zone_and_takes_the_next_kind(browse, manager):
    notice = {"kind": "notice", "local_date": "2027-09-01", "local_time": "09:00", "time_zone": "Asia/Jakarta"}
    _draft(manager, "phases", phases=[notice])
    maya, page = _maya(browse, "/plans/new/?step=phases")

    page.get_by_role("button", name="Add a phase").click()
    page.locator('[name="phases-1-kind"]').wait_for()
    assert page.locator('[name="phases-1-kind"]').input_value() == "soft_close"
    assert page.locator('[name="phases-1-time_zone"]').input_value() == "Asia/Jakarta"
    page.locator('[name="phases-1-time_zone"]').fill("Europe/Paris")
    page.get_by_role("button", name="Add a phase").click()
    page.locator('[name="phases-2-kind"]').wait_for()
    assert page.locator('[name="phases-2-kind"]').input_value() == "hard_close"
    assert page.locator('[name="phases-2-time_zone"]').input_value() == "Europe/Paris"
    assert page.locator('[name="phases-1-time_zone"]').input_value() == "Europe/Paris"  # kept as typed
    maya.shot("wizard-new-phase-follows")
    _no_csp_violation(maya)


def test_time_zone_picker_searches_and_is_keyboard_usable(browse, manager):
    _draft(manager, "phases", phases=[{**HARD_CLOSE, "time_zone": "UTC"}])
    maya, page = _maya(browse, "/plans/new/?step=phases")

    zone = page.get_by_role("combobox", name="Time zone")
    assert zone.get_attribute("aria-expanded") == "false"
    zone.fill("")
    zone.press_sequentially("jakar")
    options = page.get_by_role("listbox", name="Matching IANA zones").get_by_role("option")
    options.first.wait_for()
    assert options.all_inner_texts() == ["Asia/Jakarta"]
    zone.fill("")
    zone.press_sequentially("new york")  # words in any order, spaces for underscores
    options.filter(has_text="America/New_York").wait_for()
    maya.shot("wizard-zone-search")
    zone.press("ArrowDown")
    assert zone.get_attribute("aria-activedescendant") == options.first.get_attribute("id")
    assert options.first.get_attribute("aria-selected") == "true"
    zone.press("Enter")  # chooses; does not submit the step
    assert zone.input_value() == "America/New_York"
    assert zone.get_attribute("aria-expanded") == "false" and "step=phases" in page.url
    # The choice is a change like typing: the instant is recomputed in that zone.
    page.locator("#instant-0").get_by_text("2027-10-01 13:00 UTC").wait_for()  # 09:00 in New York (EDT)
    zone.press_sequentially("x")
    zone.press("Escape")
    assert zone.get_attribute("aria-expanded") == "false"
    maya.shot("wizard-zone-chosen")
    _no_csp_violation(maya)


def test_discarding_a_draft_asks_for_confirmation(browse, manager):
    draft = _draft(manager, "phases", phases=[HARD_CLOSE])
    maya, page = _maya(browse, "/plans/new/?step=phases")

    page.get_by_role("link", name="Discard this draft").click()
    page.get_by_role("heading", name="Discard this draft?").wait_for()
    maya.shot("wizard-discard-confirm")
    assert PlanDraft.objects.filter(pk=draft.pk).exists()  # asking is not discarding
    page.get_by_role("link", name="No, keep editing").click()
    page.wait_for_url(re.compile(r"step=phases"))
    assert page.locator('[name="phases-0-local_date"]').input_value() == "2027-10-01"

    page.get_by_role("link", name="Discard this draft").click()
    page.get_by_role("button", name="Yes, discard the draft").click()
    page.wait_for_url(re.compile(r"/$"))
    page.get_by_text("The draft was discarded.").wait_for()
    assert not PlanDraft.objects.filter(pk=draft.pk).exists()
    _no_csp_violation(maya)


def test_autosave_says_when_the_draft_was_not_saved_and_why(browse, manager):
    _draft(manager, "channels")
    maya, page = _maya(browse, "/plans/new/")
    status = page.locator("#autosave")

    def title() -> str:
        return PlanDraft.objects.get(author=manager).data["title"]

    page.get_by_label("Title").fill("Retire support on X and the forum")
    wait_for(lambda: title() == "Retire support on X and the forum", timeout=10, message="the autosave")
    status.get_by_text(re.compile(r"Draft saved at")).wait_for()

    # A pasted bidi override (it makes a title read other than it is stored): the portal refuses
    # the whole request with 400.
    page.get_by_label("Title").fill("Retire support \u202eX no")
    status.get_by_text("Draft not saved: “title” holds a character the portal does not accept (U+202E).").wait_for()
    assert "Draft saved" not in status.inner_text()
    maya.shot("wizard-autosave-refused")
    assert title() == "Retire support on X and the forum"

    page.get_by_label("Title").fill("Retire support on X")
    status.get_by_text(re.compile(r"Draft saved at")).wait_for()  # the refusal is gone once saved
    wait_for(lambda: title() == "Retire support on X", timeout=10, message="the autosave")

    # The portal cannot be reached: what was typed is still on the page, and the line says so.
    page.route("**/autosave/", lambda route: route.abort())
    page.get_by_label("Title").fill("Retire support on X, offline")
    status.get_by_text(
        "Draft not saved: the portal could not be reached; what you typed is still on this page."
    ).wait_for()
    page.unroute("**/autosave/")
    # Signed out meanwhile (the autosave follows the redirect to the sign-in page).
    maya.context.clear_cookies(name="sessionid")
    page.get_by_label("Title").fill("Retire support on X, signed out")
    status.get_by_text(re.compile(r"Draft not saved: you are signed out")).wait_for()
    maya.shot("wizard-autosave-signed-out")
    assert title() == "Retire support on X"
    maya.login("maya")

    # The wizard's own refusal (400 with its status line): a draft too long to keep.
    page.goto(maya.base_url + "/plans/new/?step=replies")
    page.get_by_label("Reply text").first.fill("a" * 70_000)
    status.get_by_text(re.compile(r"Draft not saved: The draft is too long to keep")).wait_for()
    maya.shot("wizard-autosave-too-long", full_page=False)  # the preview of 70,000 characters is long
    _no_csp_violation(maya)


def test_a_nul_byte_gets_a_page_in_the_portals_layout_and_language(browse, manager):
    maya, page = _maya(browse, "/")
    page.get_by_label("Language").select_option("fr")
    page.get_by_role("button", name="Change").click()
    page.get_by_role("link", name="Tableau de bord").first.wait_for()
    response = page.goto(maya.base_url + "/plans/new/?title=a%00b")
    assert response.status == 400
    page.get_by_role("heading", name="Requête refusée").wait_for()
    assert "(U+0000)" in page.locator("[data-refusal]").inner_text()
    assert page.get_by_role("navigation", name="Principal").is_visible()  # the portal's menu
    maya.shot("wizard-nul-refused-fr")
    _no_csp_violation(maya)
