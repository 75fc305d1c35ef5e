"""The sunset wizard's pages and their htmx parts: previews, new rows, autosave, discard."""

import pytest
from django.urls import reverse

from channels_app.models import PlanDraft
from channels_app.plans.services.drafts import open_plan_draft, save_plan_draft
from channels_app.tests.support.factories import ChannelFactory

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
