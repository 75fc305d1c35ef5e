"""A plan some of whose phases ran is shown as it stands: the preflight weighs only the phases
still to run, the impact box starts from the channels' states today and goes on with what is still
to come, and the dashboard's "Next phase" skips phases already done."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app.cutover.services.engine import claim_due_phases, run_cutover
from channels_app.models import Phase, PhaseKind, PhaseState, PlanState
from channels_app.plans.selectors import plan_for_page
from channels_app.plans.services.preflight import run_preflight
from channels_app.tests.support.factories import ChannelFactory
from channels_app.tests.support.inbound_helpers import platform_channel, sunset

pytestmark = pytest.mark.django_db


def _run(plan, kind: str) -> None:
    phase = plan.phases.get(kind=kind)
    (run_id,) = claim_due_phases(now=phase.instant + timedelta(seconds=1))
    assert run_cutover(run_id=run_id, worker_id="test") in ("completed", "delivering")


def _time_passes(plan) -> None:
    """The phases that ran are behind us: their instants are in the past, as they would be."""
    Phase.objects.filter(plan=plan, state=PhaseState.COMPLETED).update(instant=timezone.now() - timedelta(days=1))


def _plans_row(html: str, title: str) -> str:
    match = re.search(rf">{re.escape(title)}</a></td>.*?</tr>", html, re.S)
    assert match, html
    return match.group(0)


def test_a_plan_half_way_shows_its_progression_and_its_next_phase(client, manager, approver, platform_secrets):
    x = platform_channel("x", name="Brand on X")
    plan = sunset(manager=manager, approver=approver, channels=[x], until=PhaseKind.SOFT_CLOSE)
    _time_passes(plan)
    plan.refresh_from_db()
    assert plan.state == PlanState.SCHEDULED

    preflight = run_preflight(plan_for_page(plan.pk))
    assert preflight.ok, preflight.messages

    client.force_login(manager)
    html = client.get(reverse("plan_detail", args=[plan.pk])).content.decode()
    assert "already in the past" not in html
    assert "Every check passes" in html
    effects = re.search(r'<ul class="effects">(.*?)</ul>', html, re.S).group(1)
    text = " ".join(re.sub(r"<[^>]+>", "", effects).split())
    assert "Now: Brand on X Soft closed." in text
    assert "Notice: Completed." in text and "Soft close: Completed." in text
    assert "Hard close: Brand on X Soft closed → Retired" in text
    assert "→ Notice" not in text and "→ Soft closed" not in text

    dashboard = client.get(reverse("home")).content.decode()
    row = _plans_row(dashboard, plan.title)
    assert "Hard close ·" in row and "Notice ·" not in row and "Soft close ·" not in row


def test_when_every_phase_ran_the_plan_says_so(client, manager, approver, platform_secrets):
    x = platform_channel("x", name="Brand on X")
    plan = sunset(manager=manager, approver=approver, channels=[x], until=PhaseKind.HARD_CLOSE)
    _time_passes(plan)
    client.force_login(manager)
    html = client.get(reverse("plan_detail", args=[plan.pk])).content.decode()
    effects = " ".join(re.sub(r"<[^>]+>", "", re.search(r'<ul class="effects">(.*?)</ul>', html, re.S)[1]).split())
    assert "Now: Brand on X Retired." in effects and "No phase is left to run." in effects
    assert "→" not in effects
    row = _plans_row(client.get(reverse("home")).content.decode(), plan.title)
    assert "All phases done" in row and "Hard close ·" not in row

    client.cookies["django_language"] = "fr"
    row = _plans_row(client.get(reverse("home")).content.decode(), plan.title)
    assert "Toutes les phases sont terminées" in row
    # One retired channel, in the singular; active channels, in the plural.
    ChannelFactory.create_batch(2)
    dashboard = " ".join(client.get(reverse("home")).content.decode().split())
    assert '<span class="n">1</span> retiré</a>' in dashboard
    assert '<span class="n">2</span> actifs</a>' in dashboard
