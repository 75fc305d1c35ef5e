"""The plan wizard's drafts: one per person, validated before anything is written."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from channels_app.models import PlanDraft, SunsetPlan
from channels_app.plans.services.drafts import finish_plan_draft, open_plan_draft, save_plan_draft
from channels_app.tests.support.factories import ChannelFactory
from channels_app.tests.support.helpers import hard_close_plan

pytestmark = pytest.mark.django_db


def test_one_draft_per_person_for_a_new_plan(manager, viewer):
    first = open_plan_draft(actor=manager)
    assert open_plan_draft(actor=manager) == first
    with pytest.raises(PermissionDenied):
        open_plan_draft(actor=viewer)


def test_editing_starts_from_the_plans_content(manager):
    plan = hard_close_plan(manager=manager, channels=[ChannelFactory()], title="Retire X")
    draft = open_plan_draft(actor=manager, plan=plan)
    assert draft.data["title"] == "Retire X"
    assert draft.data["phases"][0]["kind"] == "hard_close"
    assert draft.data["auto_replies"][0]["locale"] == "en"


def test_a_draft_that_does_not_validate_writes_nothing_and_stays(manager):
    draft = open_plan_draft(actor=manager)
    save_plan_draft(actor=manager, draft=draft, data={"title": "Half done", "channel_ids": []}, step="phases")
    with pytest.raises(ValidationError) as caught:
        finish_plan_draft(actor=manager, draft=draft)
    assert "channels" in caught.value.error_dict and "phases" in caught.value.error_dict
    assert not SunsetPlan.objects.exists()
    assert PlanDraft.objects.get(pk=draft.pk).step == "phases"


def test_unreadable_dates_are_reported_not_crashed_on(manager):
    draft = open_plan_draft(actor=manager)
    bad = [{"kind": "hard_close", "local_date": "31/02/2030", "local_time": "25:00", "time_zone": "UTC"}]
    save_plan_draft(actor=manager, draft=draft, data={"phases": bad})
    with pytest.raises(ValidationError, match="is not a valid date"):
        finish_plan_draft(actor=manager, draft=draft)


def test_unknown_keys_and_steps_are_not_stored(manager):
    draft = open_plan_draft(actor=manager)
    save_plan_draft(actor=manager, draft=draft, data={"state": "scheduled", "title": "T"})
    draft.refresh_from_db()
    assert "state" not in draft.data and draft.data["title"] == "T"
    with pytest.raises(ValidationError):
        save_plan_draft(actor=manager, draft=draft, data={}, step="approve")


def test_a_wizard_phase_out_of_order_is_explained_in_french(manager):
    x = ChannelFactory(name="Brand on X", kind="x")
    draft = open_plan_draft(actor=manager)
    phases = [
        {"kind": "notice", "local_date": "2030-10-02", "local_time": "00:00", "time_zone": "UTC"},
        {"kind": "hard_close", "local_date": "2030-10-01", "local_time": "00:00", "time_zone": "UTC"},
    ]
    save_plan_draft(actor=manager, draft=draft, data={"title": "T", "channel_ids": [x.pk], "phases": phases})
    with translation.override("fr"), pytest.raises(ValidationError) as caught:
        finish_plan_draft(actor=manager, draft=draft)
    assert caught.value.message_dict["phases"] == [
        "Phases dans le désordre : « Fermeture définitive » (2030-10-01 00:00 UTC) doit venir après "
        "« Préavis » (2030-10-02 00:00 UTC)."
    ]
    assert not SunsetPlan.objects.exists()
