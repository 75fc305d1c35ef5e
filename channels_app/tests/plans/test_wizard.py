"""The sunset wizard's pages and their htmx parts: previews, new rows, autosave, discard."""

import base64
from datetime import time, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from channels_app.models import AuditEvent, LandingPage, PlanDraft, SunsetPlan
from channels_app.plans.services.drafts import open_plan_draft, save_plan_draft
from channels_app.plans.services.plans import AutoReplyInput
from channels_app.tests.support.factories import ChannelFactory
from channels_app.tests.support.helpers import hard_close_plan, utc_phase

pytestmark = pytest.mark.django_db


def body(response) -> str:
    return response.content.decode()


def _draft(manager, **data) -> PlanDraft:
    draft = open_plan_draft(actor=manager, plan=None)
    return save_plan_draft(actor=manager, draft=draft, data=data)


def _preview(client, draft, text: str, locale: str = "en") -> str:
    url = reverse("plan_draft_preview", args=[draft.pk])
    response = client.post(url, {"row": "0", "replies-0-text": text, "replies-0-locale": locale})
    assert response.status_code == 200
    return body(response)


PHASES = [{"kind": "hard_close", "local_date": "2027-10-01", "local_time": "09:00", "time_zone": "Europe/Paris"}]
REDIRECTS = [{"kind": "phone", "label": "Phone", "value": "+1 800 555 0100", "expected_share": 0.0}]


# --- the reply preview ----------------------------------------------------------------------------


def test_the_preview_writes_the_date_in_the_replys_language(client, manager):
    draft = _draft(manager, title="X", channel_ids=[ChannelFactory(kind="x").pk], phases=PHASES)
    client.force_login(manager)
    assert "Closing on 1 October 2027." in _preview(client, draft, "Closing on {date}.", "en")
    assert "Fermeture le 1 octobre 2027." in _preview(client, draft, "Fermeture le {date}.", "fr")
    assert "Ditutup pada 1 Oktober 2027." in _preview(client, draft, "Ditutup pada {date}.", "id")
    # A language code that is not one falls back to the draft's default language.
    assert "1 October 2027" in _preview(client, draft, "{date}", "<script>")


def test_the_preview_warns_of_each_placeholder_the_draft_cannot_fill_yet(client, manager):
    draft = _draft(manager, title="X", channel_ids=[ChannelFactory(kind="x").pk])
    client.force_login(manager)
    html = _preview(client, draft, "Closing on {date}. Call {phone} or visit {redirect_url}.")
    assert "This reply would say {date}, {phone}, {redirect_url} with nothing in it" in html
    assert "add a hard close phase; add a phone redirect; add a URL, app or phone redirect." in html

    save_plan_draft(actor=manager, draft=draft, data={"phases": PHASES, "redirects": REDIRECTS})
    html = _preview(client, draft, "Closing on {date}. Call {phone} or visit {redirect_url}.")
    assert "with nothing in it" not in html
    assert "Closing on 1 October 2027. Call +1 800 555 0100 or visit +1 800 555 0100." in html


def test_the_empty_placeholder_warning_speaks_french(client, manager):
    draft = _draft(manager, title="X", channel_ids=[ChannelFactory(kind="x").pk])
    client.force_login(manager)
    client.post(reverse("set_language"), {"language": "fr", "next": "/"})
    html = _preview(client, draft, "Appelez le {phone}.", "fr")
    assert "Cette réponse afficherait {phone} sans rien dedans : ajoutez une redirection téléphonique." in html


# --- adding a phase -------------------------------------------------------------------------------


def _add_phase(client, rows: list[dict]):
    data = {"step": "phases", "action": "add", "phases-TOTAL_FORMS": str(len(rows)), "phases-INITIAL_FORMS": "0"}
    for i, row in enumerate(rows):
        data |= {f"phases-{i}-{k}": v for k, v in row.items()}
    response = client.post(reverse("plan_new"), data)
    assert response.status_code == 200
    return response.context["form"].forms[-1]


def test_a_new_phase_takes_the_next_kind_and_the_zone_of_the_phase_above(client, manager):
    client.force_login(manager)
    notice = {"kind": "notice", "local_date": "2027-09-01", "local_time": "09:00", "time_zone": "Asia/Jakarta"}
    new = _add_phase(client, [notice])
    assert (new["kind"].value(), new["time_zone"].value()) == ("soft_close", "Asia/Jakarta")
    soft = {**notice, "kind": "soft_close", "time_zone": "Europe/Paris"}
    assert _add_phase(client, [notice, soft])["kind"].value() == "hard_close"
    hard = {**notice, "kind": "hard_close", "time_zone": "America/Sao_Paulo"}
    new = _add_phase(client, [notice, soft, hard])
    assert (new["kind"].value(), new["time_zone"].value()) == ("archive", "America/Sao_Paulo")
    # The page shows it so: the select has the kind chosen, the zone field holds the zone.
    html = body(client.get(reverse("plan_new") + "?step=phases"))
    assert 'value="America/Sao_Paulo"' in html


def test_the_first_phase_added_to_none_is_in_the_readers_zone(client, manager):
    client.force_login(manager)
    new = _add_phase(client, [])
    assert new["time_zone"].value() == "UTC"  # the manager has no zone of their own: the portal's


# --- discarding -----------------------------------------------------------------------------------


def test_discarding_a_draft_asks_first_and_only_a_confirmed_post_discards(client, manager):
    draft = _draft(manager, title="Retire X", channel_ids=[ChannelFactory(kind="x").pk], phases=PHASES)
    client.force_login(manager)
    url = reverse("plan_draft_discard", args=[draft.pk])
    html = body(client.get(url))
    assert "Discard this draft?" in html and "Retire X" in html and "This cannot be undone" in html
    assert 'name="confirm" value="yes"' in html and "No, keep editing" in html
    # The wizard's link leads to the question, not to the discard.
    assert f'href="{url}"' in body(client.get(reverse("plan_new")))
    # A POST that does not confirm (an old form, a replayed request) asks again and keeps the draft.
    response = client.post(url)
    assert response.status_code == 200 and "Discard this draft?" in body(response)
    assert PlanDraft.objects.filter(pk=draft.pk).exists()
    response = client.post(url, {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert not PlanDraft.objects.filter(pk=draft.pk).exists()


def test_discarding_changes_to_a_plan_keeps_the_plan(client, manager):
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory()], title="Retire the forum")
    client.force_login(manager)
    client.get(reverse("plan_edit", args=[plan.pk]))
    draft = PlanDraft.objects.get(plan=plan)
    html = body(client.get(reverse("plan_draft_discard", args=[draft.pk])))
    assert "Discard my changes?" in html and "the plan itself stays as it was" in html
    response = client.post(reverse("plan_draft_discard", args=[draft.pk]), {"confirm": "yes"})
    assert response["Location"] == reverse("plan_detail", args=[plan.pk])
    assert not PlanDraft.objects.filter(pk=draft.pk).exists()
    plan.refresh_from_db()
    assert plan.title == "Retire the forum"


def test_editing_a_plan_lists_its_replies_in_phase_order(client, manager):
    replies = [
        AutoReplyInput("hard_close", "en", "Closed. Call {phone}."),
        AutoReplyInput("notice", "en", "We close on {date}."),
        AutoReplyInput("soft_close", "en", "No new cases here."),
        AutoReplyInput("notice", "fr", "Nous fermons le {date}."),
    ]
    start = timezone.now() + timedelta(days=10)
    phases = [utc_phase(k, start + timedelta(days=i)) for i, k in enumerate(["notice", "soft_close", "hard_close"])]
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory()], phases=phases, auto_replies=replies)
    client.force_login(manager)
    form = client.get(reverse("plan_edit", args=[plan.pk]) + "?step=replies").context["form"]
    order = [(f["phase_kind"].value(), f["locale"].value()) for f in form]
    assert order == [("notice", "en"), ("notice", "fr"), ("soft_close", "en"), ("hard_close", "en")]


# --- autosave ------------------------------------------------------------------------------------


def test_an_autosave_that_is_refused_says_the_draft_was_not_saved_and_why(client, manager):
    draft = _draft(manager, title="Kept title")
    client.force_login(manager)
    url = reverse("plan_draft_autosave", args=[draft.pk])
    response = client.post(url, {"step": "nowhere"})
    assert response.status_code == 400
    html = body(response)
    assert 'id="autosave"' in html and "Draft not saved: the wizard has no such step." in html
    assert "Draft saved" not in html

    replies = {"replies-TOTAL_FORMS": "1", "replies-0-phase_kind": "hard_close", "replies-0-text": "a" * 70_000}
    response = client.post(url, {"step": "replies", **replies})
    assert response.status_code == 400
    assert "Draft not saved: The draft is too long to keep (over 64000 characters): shorten it." in body(response)
    draft.refresh_from_db()
    assert draft.data["title"] == "Kept title" and not draft.data.get("auto_replies")  # nothing was kept


def test_an_autosave_too_long_to_keep_answers_with_the_status_line(client, manager):
    draft = _draft(manager, title="Kept title")
    client.force_login(manager)
    response = client.post(
        reverse("plan_draft_autosave", args=[draft.pk]),
        {"step": "replies", "replies-TOTAL_FORMS": "1", "replies-0-text": "a" * 300_000},
    )
    assert response.status_code == 422
    html = body(response)
    assert html.startswith('<p id="autosave"') and "Draft not saved: The draft is too long to keep" in html


def test_the_autosave_refusal_speaks_french(client, manager):
    draft = _draft(manager, title="Kept title")
    client.force_login(manager)
    client.post(reverse("set_language"), {"language": "fr", "next": "/"})
    html = body(client.post(reverse("plan_draft_autosave", args=[draft.pk]), {"step": "nowhere"}))
    assert "Brouillon non enregistré : l’assistant n’a pas cette étape." in html
    page = body(client.get(reverse("plan_new")))
    assert 'data-autosave-failed="Brouillon non enregistré : %(why)s"' in page


# --- blank rows ----------------------------------------------------------------------------------


def _step(client, step: str, prefix: str, rows: list[dict]):
    data = {"step": step, "action": "next", f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": "0"}
    for i, row in enumerate(rows):
        data |= {f"{prefix}-{i}-{k}": v for k, v in row.items()}
    return client.post(reverse("plan_new"), data)


def test_blank_rows_are_refused_by_number_not_dropped(client, manager):
    _draft(manager, title="X", channel_ids=[ChannelFactory(kind="x").pk], phases=PHASES, redirects=REDIRECTS)
    client.force_login(manager)
    written = {"phase_kind": "hard_close", "locale": "en", "text": "We moved: call {phone}."}
    response = _step(client, "replies", "replies", [written, {"phase_kind": "notice", "locale": "fr", "text": " "}])
    assert response.status_code == 422
    assert "Reply row 2 is empty: write the reply or remove the row." in body(response)
    assert PlanDraft.objects.get(author=manager).plan is None  # no plan was made

    phone = {"kind": "phone", "label": "Phone", "value": "+1 800 555 0100", "expected_share": ""}
    response = _step(client, "redirects", "redirects", [{"kind": "url", "label": "", "value": ""}, phone])
    assert response.status_code == 422
    assert "Redirect row 1 is empty: fill it in or remove the row." in body(response)
    blank = {"kind": "url", "label": "", "value": ""}
    response = _step(client, "redirects", "redirects", [blank, dict(blank), phone])
    assert "Redirect rows 1, 2 are empty: fill them in or remove them." in body(response)
    client.cookies["django_language"] = "fr"
    response = _step(client, "redirects", "redirects", [blank, dict(blank), phone])
    assert "Les lignes de redirection 1, 2 sont vides : remplissez-les ou supprimez-les." in body(response)
    del client.cookies["django_language"]

    blank_phase = {"kind": "archive", "local_date": "", "local_time": "", "time_zone": "Europe/Paris"}
    response = _step(client, "phases", "phases", [PHASES[0], blank_phase])
    assert response.status_code == 422
    assert "Phase row 2 is empty: give it a date and a time or remove the row." in body(response)
    # What was typed stays on the page and in the draft.
    assert [p["kind"] for p in PlanDraft.objects.get(author=manager).data["phases"]] == ["hard_close", "archive"]

    # A removed row is gone, not refused.
    response = _step(client, "phases", "phases", [PHASES[0], {**blank_phase, "DELETE": "on"}])
    assert response.status_code == 302


def test_each_redirect_says_how_it_takes_the_reference_and_a_hostile_name_is_refused(client, manager):
    _draft(manager, title="X", channel_ids=[ChannelFactory(kind="x").pk], phases=PHASES)
    client.force_login(manager)
    web = {"kind": "url", "label": "Web form", "value": "https://help.example.com/contact", "expected_share": ""}
    hostile = {**web, "reference_mode": "form_post", "reference_name": '"><script>alert(1)</script>'}
    response = _step(client, "redirects", "redirects", [hostile])
    assert response.status_code == 422
    html = body(response)
    assert "name the reference&#x27;s parameter or field with letters, digits, _ . or -" in html
    assert "<script>alert(1)</script>" not in html

    good = {**web, "reference_mode": "form_post", "reference_name": "ticket_ref"}
    response = _step(client, "redirects", "redirects", [good, {**REDIRECTS[0], "expected_share": ""}])
    assert response.status_code == 302
    rows = PlanDraft.objects.get(author=manager).data["redirects"]
    assert rows[0] == {
        "kind": "url",
        "label": "Web form",
        "value": "https://help.example.com/contact",
        "expected_share": 0.0,
        "reference_mode": "form_post",
        "reference_name": "ticket_ref",
    }
    assert "reference_mode" not in rows[1]  # the landing page's parameter: nothing stored


# --- the landing page section of the redirect step ------------------------------------------------

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
LANDING = {
    "landing-display_name": "Lumen",
    "landing-accent": "#AA3300",
    "landing-reference_param": "ticket",
    "landing-phone_opens": "08:30",
    "landing-phone_closes": "17:00",
    "landing-phone_zone": "Europe/Paris",
}


def _redirect_step(client, rows, landing, **files):
    data = {"step": "redirects", "action": "next", "redirects-TOTAL_FORMS": str(len(rows))}
    for i, row in enumerate(rows):
        data |= {f"redirects-{i}-{k}": v for k, v in row.items()}
    return client.post(reverse("plan_new"), {**data, **landing, **files})


def test_the_redirect_step_sets_the_landing_page_which_the_plan_gets_when_finished(client, manager):
    channel = ChannelFactory(kind="x")
    _draft(manager, title="Retire X", channel_ids=[channel.pk], phases=PHASES)
    client.force_login(manager)
    assert "Landing page" in body(client.get(reverse("plan_new") + "?step=redirects"))
    logo = SimpleUploadedFile("logo.png", PNG, content_type="image/png")
    response = _redirect_step(client, [{**REDIRECTS[0], "expected_share": ""}], LANDING, **{"landing-logo": logo})
    assert response.status_code == 302
    draft = PlanDraft.objects.get(author=manager)
    assert draft.data["landing"] == {
        "display_name": "Lumen",
        "accent": "#aa3300",
        "reference_param": "ticket",
        "phone_opens": "08:30",
        "phone_closes": "17:00",
        "phone_zone": "Europe/Paris",
        "remove_logo": False,
    }
    assert (bytes(draft.logo), draft.logo_type) == (PNG, "image/png")

    replies = {"replies-TOTAL_FORMS": "1", "replies-0-phase_kind": "hard_close", "replies-0-locale": "en"}
    response = client.post(reverse("plan_new"), {"step": "replies", **replies, "replies-0-text": "We moved."})
    assert response.status_code == 302
    plan = SunsetPlan.objects.get()
    page = LandingPage.objects.get(plan=plan)
    assert (page.display_name, page.accent, page.reference_param, page.phone_zone) == (
        "Lumen",
        "#aa3300",
        "ticket",
        "Europe/Paris",
    )
    assert (page.phone_opens, page.phone_closes) == (time(8, 30), time(17, 0))
    assert (bytes(page.logo), page.logo_type) == (PNG, "image/png")
    assert AuditEvent.objects.filter(action="plan.landing_page_set", object_id=str(plan.pk)).count() == 1

    # Editing the plan starts from its landing page.
    draft = open_plan_draft(actor=manager, plan=plan)
    assert draft.data["landing"]["display_name"] == "Lumen"
    html = body(client.get(reverse("plan_edit", args=[plan.pk]) + "?step=redirects"))
    assert 'value="Lumen"' in html and "Remove the logo" in html


def test_a_bad_landing_setting_is_refused_on_the_step_and_nothing_is_kept(client, manager):
    _draft(manager, title="Retire X", channel_ids=[ChannelFactory(kind="x").pk], phases=PHASES)
    client.force_login(manager)
    svg = SimpleUploadedFile("logo.svg", b"<svg><script>alert(1)</script></svg>", content_type="image/svg+xml")
    bad = {**LANDING, "landing-accent": "red", "landing-reference_param": "a b", "landing-phone_zone": ""}
    response = _redirect_step(client, [{**REDIRECTS[0], "expected_share": ""}], bad, **{"landing-logo": svg})
    assert response.status_code == 422
    html = body(response)
    assert "Enter a colour as # and six hex digits" in html
    assert "Use letters, digits, _ . or -, starting with a letter." in html
    assert "The logo must be a PNG, JPEG or WebP image." in html
    assert "Give the phone" in html
    draft = PlanDraft.objects.get(author=manager)
    assert draft.step != "replies" and draft.logo_type == ""
    assert not LandingPage.objects.exists()


def test_a_plan_made_without_touching_the_landing_section_gets_no_landing_page(client, manager):
    _draft(manager, title="Retire X", channel_ids=[ChannelFactory(kind="x").pk], phases=PHASES, redirects=REDIRECTS)
    client.force_login(manager)
    replies = {"replies-TOTAL_FORMS": "1", "replies-0-phase_kind": "hard_close", "replies-0-locale": "en"}
    response = client.post(reverse("plan_new"), {"step": "replies", **replies, "replies-0-text": "We moved."})
    assert response.status_code == 302
    assert SunsetPlan.objects.exists() and not LandingPage.objects.exists()
