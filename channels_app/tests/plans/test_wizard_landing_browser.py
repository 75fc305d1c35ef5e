"""The wizard's redirect step with the landing page section, walked in Chromium as Maya: she
brands the page (name, colour, logo, phone hours), sets a web target to take the reference as a
POST form field, and continues; the draft holds it all. No Content-Security-Policy violation;
the screenshot is artifacts/screenshots/wizard-landing.png."""

import base64
import re

import pytest

from channels_app.models import PlanDraft
from channels_app.plans.services.drafts import open_plan_draft, save_plan_draft
from channels_app.tests.support.factories import ChannelFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HARD_CLOSE = {"kind": "hard_close", "local_date": "2027-10-01", "local_time": "09:00", "time_zone": "Europe/Paris"}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def test_maya_brands_the_landing_page_next_to_the_redirect_targets(browse, manager, tmp_path):
    channel = ChannelFactory(kind="x", name="Lumen on X", handle="@LumenSupport")
    data = {"title": "Retire support on X", "channel_ids": [channel.pk], "default_locale": "en", "phases": [HARD_CLOSE]}
    save_plan_draft(actor=manager, draft=open_plan_draft(actor=manager), data=data, step="redirects")
    logo = tmp_path / "lumen.png"
    logo.write_bytes(PNG)

    maya = browse("manager")
    maya.login("maya")
    page = maya.goto("/plans/new/?step=redirects")
    page.get_by_label("Label").first.fill("Phone support")
    page.get_by_label("Number or address").first.fill("+1 800 555 0100")
    page.get_by_label("Label").nth(1).fill("Contact form")
    page.get_by_label("Number or address").nth(1).fill("https://help.lumen.example/contact")
    page.get_by_label("Reference passed as").nth(1).select_option("form_post")
    page.get_by_label("Parameter or field name").nth(1).fill("ticket_ref")

    page.get_by_label("Display name").fill("Lumen")
    page.get_by_label("Accent colour").fill("#aa3300")
    page.get_by_label("Phone opens").fill("08:30")
    page.get_by_label("Phone closes").fill("17:00")
    page.get_by_label("Phone hours time zone").fill("Europe/Paris")
    page.get_by_label("Logo (PNG, JPEG or WebP)").set_input_files(str(logo))
    maya.shot("wizard-landing")

    page.get_by_role("button", name="Save and continue").last.click()
    page.wait_for_url(re.compile(r"step=replies"))
    draft = PlanDraft.objects.get(author=manager)
    assert draft.data["landing"]["display_name"] == "Lumen"
    assert draft.data["landing"]["accent"] == "#aa3300"
    assert draft.data["landing"]["phone_zone"] == "Europe/Paris"
    assert (bytes(draft.logo), draft.logo_type) == (PNG, "image/png")
    assert draft.data["redirects"][1]["reference_mode"] == "form_post"
    assert draft.data["redirects"][1]["reference_name"] == "ticket_ref"
    maya.check_csp()
    assert not maya.violations, maya.violations
