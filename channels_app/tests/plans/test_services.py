from datetime import date, time, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from channels_app.audit.services import verify_chain
from channels_app.core.errors import InvalidTransition
from channels_app.models import AuditEvent, Phase, PhaseState, PlanChannel, PlanState, SunsetPlan
from channels_app.plans.services.plans import (
    AutoReplyInput,
    PhaseInput,
    RedirectInput,
    approve_plan,
    cancel_plan,
    create_plan,
    reject_plan,
    reschedule_phase,
    submit_plan,
    update_plan,
)
from channels_app.tests.support.factories import ChannelFactory, SunsetPlanFactory
from channels_app.tests.support.helpers import HARD_CLOSE_REPLY, approved_plan, hard_close_plan, utc_phase

pytestmark = pytest.mark.django_db


def _nothing_written(before_plans: int, before_events: int) -> None:
    assert SunsetPlan.objects.count() == before_plans
    assert AuditEvent.objects.count() == before_events


def _messages(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def test_manager_drafts_a_plan_with_phases_in_utc_and_local_time(manager, x_channel):
    plan = create_plan(
        actor=manager,
        title="Retire X",
        channel_ids=[x_channel.pk],
        phases=[
            PhaseInput("notice", date(2030, 9, 1), time(0, 0), "America/Los_Angeles"),
            PhaseInput("hard_close", date(2030, 10, 1), time(0, 0), "America/Los_Angeles"),
        ],
        redirects=[RedirectInput("phone", "Phone", "+1 800 555 0100")],
        auto_replies=[AutoReplyInput("hard_close", "en", HARD_CLOSE_REPLY)],
    )
    assert plan.state == PlanState.DRAFT
    hard = plan.phases.get(kind="hard_close")
    # 1 October 00:00 in Los Angeles is 07:00 UTC (PDT, UTC-7).
    assert hard.instant.isoformat() == "2030-10-01T07:00:00+00:00"
    assert hard.time_zone == "America/Los_Angeles"
    assert AuditEvent.objects.filter(action="plan.created", object_id=str(plan.pk)).exists()


@pytest.mark.parametrize(
    ("phases", "expected"),
    [
        ([PhaseInput("hard_close", date(2020, 1, 1), time(9, 0), "UTC")], "is in the past"),
        (
            [
                PhaseInput("notice", date(2030, 10, 2), time(0, 0), "UTC"),
                PhaseInput("hard_close", date(2030, 10, 1), time(0, 0), "UTC"),
            ],
            "Phases out of order",
        ),
        ([PhaseInput("hard_close", date(2030, 10, 1), time(0, 0), "Mars/Olympus_Mons")], "Unknown time zone"),
        # 2030-03-10 02:30 does not exist in New York (clocks jump from 02:00 to 03:00).
        ([PhaseInput("hard_close", date(2030, 3, 10), time(2, 30), "America/New_York")], "does not exist"),
        # 2030-11-03 01:30 happens twice in New York.
        ([PhaseInput("hard_close", date(2030, 11, 3), time(1, 30), "America/New_York")], "happens twice"),
        ([PhaseInput("sunset", date(2030, 10, 1), time(0, 0), "UTC")], "unknown phase"),
        ([], "at least one phase"),
    ],
)
def test_bad_phases_are_rejected_and_nothing_changes(manager, x_channel, phases, expected):
    before = (SunsetPlan.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as err:
        hard_close_plan(manager=manager, channels=[x_channel], phases=phases, auto_replies=[])
    assert expected in _messages(err.value)
    assert "phases" in err.value.message_dict
    _nothing_written(*before)


def test_auto_reply_with_unknown_placeholder_is_rejected(manager, x_channel):
    before = (SunsetPlan.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as err:
        hard_close_plan(
            manager=manager,
            channels=[x_channel],
            auto_replies=[AutoReplyInput("hard_close", "en", "Hi {customer_name}, call {phone_number}")],
        )
    text = _messages(err.value)
    assert "unknown placeholder {phone_number}" in text
    assert "{customer_name}" in text  # the message lists the known ones
    _nothing_written(*before)


def test_auto_reply_too_long_for_x_is_rejected(manager, x_channel):
    with pytest.raises(ValidationError) as err:
        hard_close_plan(
            manager=manager,
            channels=[x_channel],
            auto_replies=[AutoReplyInput("hard_close", "en", "Support has moved. " * 16)],
        )
    assert "280" in _messages(err.value)


def test_plan_cannot_be_approved_by_its_author(manager, x_channel):
    manager.groups.add(*manager.groups.model.objects.filter(name="approver"))
    plan = hard_close_plan(manager=manager, channels=[x_channel])
    submit_plan(actor=manager, plan=plan)
    events = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied, match="author of a plan cannot approve"):
        approve_plan(actor=manager, plan=plan)
    plan.refresh_from_db()
    assert plan.state == PlanState.PENDING_APPROVAL
    assert plan.approved_by is None
    assert AuditEvent.objects.count() == events


def test_database_refuses_an_approver_who_is_the_author(manager, x_channel):
    plan = hard_close_plan(manager=manager, channels=[x_channel])
    with pytest.raises(IntegrityError), transaction.atomic():
        SunsetPlan.objects.filter(pk=plan.pk).update(approved_by=manager)


def test_second_person_approves_and_phases_become_scheduled(manager, approver, x_channel):
    plan = approved_plan(manager=manager, approver=approver, channels=[x_channel])
    assert plan.state == PlanState.SCHEDULED
    assert plan.approved_by == approver
    assert set(plan.phases.values_list("state", flat=True)) == {PhaseState.SCHEDULED}
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["plan.created", "plan.submitted", "plan.approved"]
    approved = AuditEvent.objects.get(action="plan.approved")
    assert approved.before == {"state": "pending_approval"}
    assert approved.after["state"] == "scheduled"
    assert verify_chain() == []


def test_viewer_and_outsider_cannot_draft(viewer, outsider, x_channel):
    for person in (viewer, outsider):
        with pytest.raises(PermissionDenied):
            hard_close_plan(manager=person, channels=[x_channel])
    assert not SunsetPlan.objects.exists()


def test_approver_role_is_required_to_approve(manager, other_manager, x_channel):
    plan = hard_close_plan(manager=manager, channels=[x_channel])
    submit_plan(actor=manager, plan=plan)
    with pytest.raises(PermissionDenied):
        approve_plan(actor=other_manager, plan=plan)


def test_one_open_plan_per_channel(manager, x_channel):
    first = hard_close_plan(manager=manager, channels=[x_channel])
    with pytest.raises(ValidationError, match="already belongs to the open plan"):
        hard_close_plan(manager=manager, channels=[x_channel], title="Second")
    # And the database holds the line even if the service check is bypassed.
    second = SunsetPlanFactory(title="Sneaky", author=manager)
    with pytest.raises(IntegrityError), transaction.atomic():
        PlanChannel.objects.create(plan=second, channel=x_channel)
    cancel_plan(actor=manager, plan=first)
    assert hard_close_plan(manager=manager, channels=[x_channel], title="After cancel").state == PlanState.DRAFT


def test_only_a_draft_can_be_edited_or_submitted(manager, approver, x_channel):
    plan = approved_plan(manager=manager, approver=approver, channels=[x_channel])
    with pytest.raises(InvalidTransition, match="only a draft plan can be submitted"):
        submit_plan(actor=manager, plan=plan)
    with pytest.raises(InvalidTransition):
        update_plan(
            actor=manager,
            plan=plan,
            title="x",
            channel_ids=[x_channel.pk],
            phases=[utc_phase("hard_close", timezone.now() + timedelta(days=3))],
        )


def test_submitting_requires_the_hard_close_reply_and_a_redirect(manager, x_channel):
    plan = hard_close_plan(manager=manager, channels=[x_channel], auto_replies=[], redirects=[])
    with pytest.raises(ValidationError) as err:
        submit_plan(actor=manager, plan=plan)
    assert set(err.value.message_dict) == {"auto_replies", "redirects"}
    plan.refresh_from_db()
    assert plan.state == PlanState.DRAFT


def test_sent_back_plan_returns_to_draft_with_the_comment(manager, approver, x_channel):
    plan = hard_close_plan(manager=manager, channels=[x_channel])
    submit_plan(actor=manager, plan=plan)
    with pytest.raises(ValidationError):
        reject_plan(actor=approver, plan=plan, comment="  ")
    reject_plan(actor=approver, plan=plan, comment="Add a French reply")
    plan.refresh_from_db()
    assert plan.state == PlanState.DRAFT
    assert plan.review_comment == "Add a French reply"


def test_update_replaces_contents_and_bumps_version(manager, x_channel):
    plan = hard_close_plan(manager=manager, channels=[x_channel])
    later = timezone.now() + timedelta(days=60)
    update_plan(
        actor=manager,
        plan=plan,
        title="Retire X later",
        channel_ids=[x_channel.pk],
        phases=[utc_phase("hard_close", later)],
        auto_replies=[AutoReplyInput("hard_close", "fr", "Bonjour {customer_name}, appelez le {phone}.")],
    )
    plan.refresh_from_db()
    assert plan.version == 2
    assert plan.title == "Retire X later"
    assert list(plan.auto_replies.values_list("locale", flat=True)) == ["fr"]
    assert abs((plan.phases.get().instant - later).total_seconds()) < 1
    event = AuditEvent.objects.get(action="plan.updated")
    assert event.before["title"] == "Retire social support"
    assert event.after["title"] == "Retire X later"


def test_reschedule_moves_a_scheduled_phase_and_validates(manager, approver, x_channel):
    plan = approved_plan(manager=manager, approver=approver, channels=[x_channel])
    phase = plan.phases.get()
    with pytest.raises(ValidationError, match="in the past"):
        reschedule_phase(actor=manager, phase=phase, local_date=date(2020, 1, 1), local_time=time(0), time_zone="UTC")
    reschedule_phase(
        actor=manager, phase=phase, local_date=date(2031, 1, 5), local_time=time(9, 0), time_zone="Asia/Jakarta"
    )
    phase.refresh_from_db()
    assert phase.instant.isoformat() == "2031-01-05T02:00:00+00:00"
    # Approved for other dates: back to the approvers, the phase waits for them.
    assert phase.state == PhaseState.PENDING
    plan.refresh_from_db()
    assert plan.state == PlanState.PENDING_APPROVAL and plan.approved_by is None


def test_cancel_stops_every_phase_that_has_not_run(manager, approver, x_channel):
    plan = approved_plan(manager=manager, approver=approver, channels=[x_channel])
    cancel_plan(actor=manager, plan=plan, reason="Brand changed its mind")
    plan.refresh_from_db()
    assert plan.state == PlanState.CANCELLED
    assert set(Phase.objects.filter(plan=plan).values_list("state", flat=True)) == {PhaseState.CANCELLED}
    assert not PlanChannel.objects.filter(plan=plan, is_open=True).exists()
    with pytest.raises(InvalidTransition):
        cancel_plan(actor=manager, plan=plan)


def test_the_author_is_told_in_french_that_a_second_person_must_approve(manager, x_channel):
    manager.groups.add(*manager.groups.model.objects.filter(name="approver"))
    plan = hard_close_plan(manager=manager, channels=[x_channel])
    submit_plan(actor=manager, plan=plan)
    with translation.override("fr"), pytest.raises(PermissionDenied) as caught:
        approve_plan(actor=manager, plan=plan)
    assert str(caught.value) == "L'auteur d'un plan ne peut pas l'approuver : une deuxième personne doit le faire."
    with translation.override("fr"), pytest.raises(InvalidTransition) as refused:
        submit_plan(actor=manager, plan=plan)
    assert refused.value.messages == [
        f"« {plan.title} » est à l'état « en attente d'approbation » ; seul un plan en brouillon peut être soumis."
    ]


@pytest.mark.parametrize(
    ("shares", "refused"), [((0.8, 0.6), 140), ((0.5, 0.2), 70), ((0.6, 0.4), None), ((0, 0), None)]
)
def test_redirect_shares_when_given_must_total_100_percent(manager, shares, refused):
    redirects = [
        RedirectInput("phone", "Phone support", "+1 800 555 0100", shares[0]),
        RedirectInput("url", "Contact form", "https://help.example.com/contact", shares[1]),
    ]
    if refused is None:
        assert hard_close_plan(manager=manager, channels=[ChannelFactory()], redirects=redirects).pk
        return
    with pytest.raises(ValidationError) as error:
        hard_close_plan(manager=manager, channels=[ChannelFactory()], redirects=redirects)
    assert error.value.message_dict["redirects"] == [
        f"Expected shares add up to {refused}%; when given, they must total 100%."
    ]
    assert not SunsetPlan.objects.exists()
