"""Shaped reads of the dashboard: the soonest plans, the timeline, what waits for people."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from channels_app.models import Phase, PlanState, SunsetPlan
from channels_app.tests.support.factories import SunsetPlanFactory
from channels_app.web.selectors import soonest_plan_ids, timeline

pytestmark = pytest.mark.django_db


def _plan(manager, title: str, state: str, *offsets_days: float) -> SunsetPlan:
    plan = SunsetPlanFactory(title=title, author=manager, state=state)
    now = timezone.now()
    kinds = ["notice", "soft_close", "hard_close", "archive"]
    Phase.objects.bulk_create(
        [
            Phase(
                plan=plan,
                kind=kinds[i % 4],
                region=f"r{i // 4}",
                local_date=date(2030, 1, 1),
                local_time=now.time(),
                time_zone="UTC",
                instant=now + timedelta(days=days),
                state="pending",
            )
            for i, days in enumerate(offsets_days)
        ]
    )
    return plan


def test_soonest_plans_are_ordered_by_their_earliest_phase(manager):
    late = _plan(manager, "late", PlanState.DRAFT, 1, 50)  # its first phase is the soonest of all
    middle = _plan(manager, "middle", PlanState.SCHEDULED, 10, 20)
    _plan(manager, "last", PlanState.SCHEDULED, 30)
    _plan(manager, "closed", PlanState.COMPLETED, 0.5)  # not an open plan: not counted
    open_phases = Phase.objects.filter(plan__state__in=[PlanState.DRAFT, PlanState.SCHEDULED])
    assert soonest_plan_ids(open_phases, 2) == [late.pk, middle.pk]
    assert len(soonest_plan_ids(open_phases, 10)) == 3
    assert soonest_plan_ids(Phase.objects.none(), 5) == []


def test_soonest_plans_read_on_when_the_first_plans_have_many_phases(manager, django_assert_num_queries):
    # The first plan has more phases than one batch holds for two plans (2 x 8): the walk
    # reads a second batch and still finds the second plan, exactly once.
    crowded = _plan(manager, "crowded", PlanState.SCHEDULED, *[1 + i / 100 for i in range(20)])
    second = _plan(manager, "second", PlanState.SCHEDULED, 5)
    with django_assert_num_queries(2):
        assert soonest_plan_ids(Phase.objects.all(), 2) == [crowded.pk, second.pk]


def test_timeline_draws_the_soonest_plans_with_all_their_phases(manager):
    now = timezone.now()
    first = _plan(manager, "Retire X <soon>", PlanState.SCHEDULED, 2, 9)
    _plan(manager, "Retire the forum", PlanState.PENDING_APPROVAL, 4)
    _plan(manager, "A draft", PlanState.DRAFT, 1)  # drafts are not on the timeline
    drawn = timeline(now=now, limit_plans=2)
    assert [bar.title for bar in drawn.bars] == [
        "Retire X <soon> (Scheduled)",
        "Retire the forum (Pending approval)",
    ]
    bar = drawn.bars[0]
    assert bar.href == f"/plans/{first.pk}/"
    assert [m.css for m in bar.marks] == ["mark phase-notice pstate-pending", "mark phase-soft_close pstate-pending"]
    assert bar.x1 < bar.x2 and bar.x1 > drawn.now_x
    svg = bar.svg()
    assert "Retire X &lt;soon&gt;" in svg and "<soon>" not in svg  # escaped like the template would
    assert svg.count("<circle") == 2 and f'href="/plans/{first.pk}/"' in svg


def test_timeline_is_empty_without_upcoming_plans(manager):
    _plan(manager, "A draft", PlanState.DRAFT, 1)
    assert timeline(now=timezone.now()) is None
