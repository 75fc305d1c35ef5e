"""Walking back through the door: undo a completed phase from its snapshot."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_app.audit.services import record_event
from channels_app.core.errors import InvalidTransition
from channels_app.core.permissions import require
from channels_app.models import (
    FINISHED_RUN_STATES,
    PHASE_ORDER,
    Assignment,
    Channel,
    Conversation,
    ConversationState,
    CutoverRun,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Phase,
    PhaseState,
    PlanChannel,
    PlanState,
    Publication,
    PublicationState,
    Reassignment,
    ReassignmentState,
    RunState,
    SunsetPlan,
)
from channels_app.platforms.services.publications import restore_publications


def rollback_deadline(run: CutoverRun) -> datetime | None:
    if run.finished_at is None:
        return None
    return run.finished_at + timedelta(hours=settings.DUSK_ROLLBACK_WINDOW_HOURS)


def _check_can_roll_back(run: CutoverRun, plan: SunsetPlan, now: datetime) -> None:
    if run.rolled_back_at is not None:
        raise InvalidTransition(
            _("This run was already rolled back on %(when)s UTC.") % {"when": f"{run.rolled_back_at:%Y-%m-%d %H:%M}"}
        )
    if run.state not in FINISHED_RUN_STATES:
        raise InvalidTransition(
            _("Only a completed run can be rolled back; this one is %(state)s.")
            % {"state": run.get_state_display().lower()}
        )
    deadline = rollback_deadline(run)
    if deadline is not None and now > deadline:
        hours = settings.DUSK_ROLLBACK_WINDOW_HOURS
        raise InvalidTransition(
            ngettext(
                "The rollback window closed on %(when)s UTC (%(hours)s hour after the run finished).",
                "The rollback window closed on %(when)s UTC (%(hours)s hours after the run finished).",
                hours,
            )
            % {"when": f"{deadline:%Y-%m-%d %H:%M}", "hours": hours}
        )
    if plan.state not in (PlanState.COMPLETED, PlanState.SCHEDULED):
        raise InvalidTransition(
            _("The plan is %(state)s; wait until no phase is running.") % {"state": plan.get_state_display().lower()}
        )
    later = (
        CutoverRun.objects.filter(plan=plan, phase__region=run.phase.region, rolled_back_at__isnull=True)
        .exclude(pk=run.pk)
        .exclude(state=RunState.SKIPPED)
        .select_related("phase")
    )
    position = PHASE_ORDER.index(run.phase.kind)
    for other in later:
        if other.state in (RunState.QUEUED, RunState.RUNNING):
            raise InvalidTransition(_("Another phase of this plan is running; wait for it to finish."))
        if PHASE_ORDER.index(other.phase.kind) > position:
            raise InvalidTransition(
                _("Roll back the later %(phase)s phase first.") % {"phase": other.phase.get_kind_display()}
            )


def rollback_run(*, actor, run: CutoverRun | int, reason: str, now: datetime | None = None) -> CutoverRun:
    """Restore channel states, conversations, assignments and moves as they were
    before the run, and on the platforms what the run's public notice replaced (the earlier
    greeting, description, category permissions, pinned state; its posts and topics deleted).
    Hand-off notices already sent stay sent (and their unique
    key keeps a later cutover from sending them again); unsent ones are dropped.

    The database is rolled back in one transaction; the platforms are asked only once it has
    committed, each answer recorded on its own (`restore_publications`), so no HTTP call runs
    under the rollback's locks and a database failure cannot leave a change its platform already
    undid recorded as published. A change a platform refuses to restore (or one never asked: the
    process ended in between) stays published on the rolled-back run, listed on the run page,
    where `retry_restores` asks again."""
    require(actor, "rollback_plan")
    run = _roll_back_database(actor=actor, run=run, reason=reason, now=now)
    # The public notice: what each change on a platform replaced is put back, latest first.
    restore_publications(run=run, actor=actor)
    run.refresh_from_db()
    return run


@transaction.atomic
def _roll_back_database(*, actor, run: CutoverRun | int, reason: str, now: datetime | None) -> CutoverRun:
    now = now or timezone.now()
    run_id = run.pk if isinstance(run, CutoverRun) else run
    plan = SunsetPlan.objects.select_for_update().get(
        pk=CutoverRun.objects.values_list("plan_id", flat=True).get(pk=run_id)
    )
    run = CutoverRun.objects.select_for_update().select_related("phase").get(pk=run_id)
    if not reason.strip():
        raise ValidationError({"reason": [_("Say why the phase is rolled back; it goes into the audit trail.")]})
    _check_can_roll_back(run, plan, now)

    # The audit's "before" is what the rollback found, not the pre-cutover picture it restores.
    found = {
        str(pk): {"state": state, "archived_at": archived.isoformat() if archived else None}
        for pk, state, archived in Channel.objects.filter(
            pk__in=[int(pk) for pk in (run.snapshot.get("channels") or {})]
        ).values_list("pk", "state", "archived_at")
    }
    restored_channels = 0
    for channel_id, prior in (run.snapshot.get("channels") or {}).items():
        restored_channels += Channel.objects.filter(pk=int(channel_id)).update(
            state=prior["state"], archived_at=prior["archived_at"], updated_at=now
        )
    reopened = Conversation.objects.filter(moved_by_run=run).update(
        state=ConversationState.OPEN, redirected_to=None, moved_by_run=None
    )
    unsent = OutboxMessage.objects.filter(created_by_run=run, kind=OutboxKind.HANDOFF, state=OutboxState.PENDING)
    dropped, _by_model = unsent.delete()
    handoffs = OutboxMessage.objects.filter(created_by_run=run, kind=OutboxKind.HANDOFF)
    kept = handoffs.filter(state=OutboxState.SENT).count()
    never_delivered = handoffs.filter(state__in=[OutboxState.FAILED, OutboxState.SKIPPED]).count()
    removed_assignments, _by_model = Assignment.objects.filter(created_by_run=run).delete()
    reopened_assignments = Assignment.objects.filter(ended_by_run=run).update(ends_on=None, ended_by_run=None)
    moves = Reassignment.objects.filter(applied_by_run=run).update(
        state=ReassignmentState.CONFIRMED, applied_by_run=None
    )
    # The public notice's changes are restored on their platforms once this commits.
    public_to_restore = Publication.objects.filter(run=run, state=PublicationState.PUBLISHED).count()
    Phase.objects.filter(pk=run.phase_id).update(state=PhaseState.ROLLED_BACK)
    cancelled = Phase.objects.filter(plan=plan, state__in=[PhaseState.PENDING, PhaseState.SCHEDULED]).update(
        state=PhaseState.CANCELLED
    )
    SunsetPlan.objects.filter(pk=plan.pk).update(state=PlanState.ROLLED_BACK, updated_at=now)
    PlanChannel.objects.filter(plan=plan).update(is_open=False)
    summary = {
        "reason": reason.strip(),
        "channels_restored": restored_channels,
        "conversations_reopened": reopened,
        "handoffs_dropped_unsent": dropped,
        "handoffs_already_sent": kept,
        "handoffs_never_delivered": never_delivered,
        "assignments_removed": removed_assignments,
        "assignments_reopened": reopened_assignments,
        "moves_reverted": moves,
        "later_phases_cancelled": cancelled,
    }
    CutoverRun.objects.filter(pk=run.pk).update(rolled_back_at=now, rolled_back_by=actor, rollback_summary=summary)
    run.refresh_from_db()
    record_event(
        actor=actor,
        action="run.rolled_back",
        obj=run,
        before={"plan_state": plan.state, "run_state": run.state, "phase": run.phase.kind, "channels": found},
        after={
            "plan_state": PlanState.ROLLED_BACK,
            "phase_state": PhaseState.ROLLED_BACK,
            "channels": run.snapshot.get("channels"),
            **summary,
            # Each undo on a platform is an event of its own (publication.restored or
            # publication.not_restored), recorded as its platform answers, after this commits.
            "public_changes_to_restore": public_to_restore,
        },
    )
    return run
