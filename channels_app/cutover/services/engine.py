"""Executing a phase: claim, then six idempotent steps (DESIGN.md, "The cutover").

Every write a step makes is committed together with the run's heartbeat, which
is a conditional UPDATE on the run's lease. A worker that lost its lease (the
reaper handed the run to another worker) therefore cannot commit anything, and
a re-run after a crash only finishes what is left.
"""

import logging
import smtplib
import time as time_module
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext, pgettext

from channels_app.audit.services import record_event
from channels_app.core.errors import CutoverAborted, LeaseLost
from channels_app.core.logcontext import bind as bind_log_ids
from channels_app.core.logcontext import log_context
from channels_app.core.mail import record_group, send_recorded
from channels_app.core.permissions import MANAGER, can, has_role
from channels_app.core.queue import kick_outbox
from channels_app.cutover.selectors import phase_channel_ids, phase_reassignments
from channels_app.cutover.services.delivery import queue_delivery_failure_notices, queue_run_failure_notices
from channels_app.models import (
    PHASE_ORDER,
    STEP_ORDER,
    Agent,
    AgentNotice,
    Assignment,
    Channel,
    Conversation,
    ConversationState,
    CutoverRun,
    Heartbeat,
    NoticeState,
    Notification,
    NotificationState,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Phase,
    PhaseKind,
    PhaseState,
    PlanChannel,
    PlanEvent,
    PlanState,
    Publication,
    PublicationState,
    Reassignment,
    ReassignmentState,
    RunState,
    Step,
    SunsetPlan,
)
from channels_app.plans.selectors import (
    CHANNEL_STATE_FOR_PHASE,
    CHANNEL_STATES_IN_ORDER,
    OWNER_NOTICE_KINDS,
    run_delivery_counts,
)
from channels_app.plans.services.notices import queue_plan_notices
from channels_app.plans.services.preflight import check_connections, run_preflight
from channels_app.platforms.services.publications import publish_pending, queue_publications
from channels_app.workforce.selectors import notice_language

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError)


# --- claiming -------------------------------------------------------------------------


def _same_scope(a_region: str, b_region: str) -> bool:
    """Two phases act on the same channels when they share a region, or either covers every region."""
    return not a_region or not b_region or a_region == b_region


# Phases whose whole effect a later phase includes: when a later phase is already due they are
# superseded instead of run after it. A hard close is never superseded: its moves of
# conversations and agents are work the archive phase does not do.
SUPERSEDABLE = (PhaseKind.NOTICE, PhaseKind.SOFT_CLOSE)


def _rank(kind: str) -> int:
    return PHASE_ORDER.index(kind)


def _later_due_phase(phases: list[Phase], phase: Phase, now: datetime) -> Phase | None:
    """The latest phase of the plan, after `phase` in the same scope, that is due and not yet done."""
    if phase.kind not in SUPERSEDABLE:
        return None
    later = [
        p
        for p in phases
        if p.pk != phase.pk
        and _same_scope(p.region, phase.region)
        and _rank(p.kind) > _rank(phase.kind)
        and p.instant <= now
        and p.state in (PhaseState.SCHEDULED, PhaseState.RUNNING, PhaseState.COMPLETED)
    ]
    return max(later, key=lambda p: (_rank(p.kind), p.instant), default=None)


def _earlier_unfinished(phases: list[Phase], phase: Phase) -> bool:
    return any(
        p.pk != phase.pk
        and _same_scope(p.region, phase.region)
        and _rank(p.kind) < _rank(phase.kind)
        and p.state in (PhaseState.PENDING, PhaseState.SCHEDULED, PhaseState.RUNNING)
        for p in phases
    )


def _record_superseded(*, run: CutoverRun, phase: Phase, by: Phase, actor_label: str, now: datetime) -> None:
    record_event(
        actor=None,
        actor_label=actor_label,
        action="phase.superseded",
        obj=run,
        before={"phase_state": phase.state},
        after={
            "phase": phase.kind,
            "phase_state": PhaseState.SKIPPED,
            "run_state": RunState.SKIPPED,
            "superseded_by": by.kind,
            "superseded_by_phase": by.pk,
        },
    )


def claim_due_phases(*, now: datetime | None = None, limit: int = 50) -> list[int]:
    """Claim due phases, in plan order, and create their runs; returns run ids to enqueue.

    The claim is `UPDATE phase SET state='running' WHERE id=… AND state='scheduled'`:
    only the caller whose UPDATE changed the row proceeds. The plan row is
    locked first, in the same order as cancel_plan, so the two never deadlock.

    Within a plan, phases run one after the other: a phase is not claimed while
    an earlier phase of the same channels is unfinished, and a notice or soft
    close whose later phase is already due is superseded (a skipped run saying
    by which phase) rather than run after it.
    """
    now = now or timezone.now()
    plan_ids = list(
        dict.fromkeys(
            Phase.objects.filter(state=PhaseState.SCHEDULED, instant__lte=now)
            .order_by("instant", "id")
            .values_list("plan_id", flat=True)[:limit]
        )
    )
    run_ids: list[int] = []
    for plan_id in plan_ids:
        with transaction.atomic():
            plan = (
                SunsetPlan.objects.select_for_update()
                .filter(pk=plan_id, state__in=[PlanState.SCHEDULED, PlanState.RUNNING])
                .first()
            )
            if plan is None:
                continue
            phases = list(Phase.objects.filter(plan_id=plan_id).order_by("instant", "id"))
            plan_state = plan.state
            for phase in sorted(phases, key=lambda p: (_rank(p.kind), p.instant, p.pk)):
                if phase.state != PhaseState.SCHEDULED or phase.instant > now:
                    continue
                later = _later_due_phase(phases, phase, now)
                if later is not None:
                    Phase.objects.filter(pk=phase.pk, state=PhaseState.SCHEDULED).update(state=PhaseState.SKIPPED)
                    run = CutoverRun.objects.create(
                        phase_id=phase.pk,
                        plan_id=plan_id,
                        state=RunState.SKIPPED,
                        superseded_by=later,
                        queued_at=now,
                        finished_at=now,
                    )
                    _record_superseded(run=run, phase=phase, by=later, actor_label="system:beat", now=now)
                    phase.state = PhaseState.SKIPPED
                    continue
                if _earlier_unfinished(phases, phase):
                    continue
                if not Phase.objects.filter(pk=phase.pk, state=PhaseState.SCHEDULED).update(state=PhaseState.RUNNING):
                    continue
                if plan_state != PlanState.RUNNING:
                    SunsetPlan.objects.filter(pk=plan_id).update(state=PlanState.RUNNING, updated_at=now)
                run = CutoverRun.objects.create(phase_id=phase.pk, plan_id=plan_id, queued_at=now, heartbeat_at=now)
                record_event(
                    actor=None,
                    actor_label="system:beat",
                    action="phase.claimed",
                    obj=run,
                    before={"phase_state": PhaseState.SCHEDULED, "plan_state": plan_state},
                    after={"phase": phase.pk, "phase_state": PhaseState.RUNNING, "plan_state": PlanState.RUNNING},
                )
                queue_plan_notices(event=PlanEvent.RUN_STARTED, plan=plan, occurrence=f"run:{run.pk}", run=run)
                plan_state = PlanState.RUNNING
                phase.state = PhaseState.RUNNING
                run_ids.append(run.pk)
    return run_ids


def record_sweep_heartbeat(*, now: datetime | None = None) -> None:
    """Note that the sweep ran (one upsert): /healthz reads its age to tell whether beat is alive."""
    Heartbeat.objects.bulk_create(
        [Heartbeat(name=Heartbeat.BEAT_SWEEP, beat_at=now or timezone.now())],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["beat_at"],
    )


def reap_stuck_runs(*, now: datetime | None = None) -> list[int]:
    """Hand runs whose worker went silent back to the queue; returns run ids to enqueue."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.DUSK_RUN_STUCK_AFTER)
    stuck = list(
        CutoverRun.objects.filter(state__in=[RunState.QUEUED, RunState.RUNNING], heartbeat_at__lt=stale).values_list(
            "id", "state", "worker_id"
        )
    )
    requeued: list[int] = []
    for run_id, state, worker in stuck:
        with transaction.atomic():
            # Conditional: a worker that beat in the meantime keeps its run.
            if CutoverRun.objects.filter(pk=run_id, state=state, heartbeat_at__lt=stale).update(
                state=RunState.QUEUED, lease="", heartbeat_at=now
            ):
                run = CutoverRun.objects.get(pk=run_id)
                record_event(
                    actor=None,
                    actor_label="system:reaper",
                    action="run.requeued",
                    obj=run,
                    before={"state": state, "worker": worker},
                    after={"state": RunState.QUEUED},
                )
                requeued.append(run_id)
    return requeued


# --- running ----------------------------------------------------------------------------


@dataclass
class _Ctx:
    run_id: int
    lease: str
    worker_id: str
    phase: Phase
    plan: SunsetPlan
    channel_ids: list[int]
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)

    def step_state(self, step: str) -> dict[str, Any]:
        return self.steps.setdefault(step, {"state": "pending", "done": 0, "total": 0})


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def _beat(ctx: _Ctx, **fields: Any) -> None:
    """Write progress and prove we still hold the lease; call inside the
    transaction whose writes it must guard."""
    fields.setdefault("steps", ctx.steps)
    if not CutoverRun.objects.filter(pk=ctx.run_id, lease=ctx.lease, state=RunState.RUNNING).update(
        heartbeat_at=timezone.now(), **fields
    ):
        raise LeaseLost(ctx.run_id)


def _start_step(ctx: _Ctx, step: str, total: int | None = None) -> dict[str, Any]:
    info = ctx.step_state(step)
    if info["state"] == "pending":
        info["state"] = "running"
        info["started_at"] = _iso(timezone.now())
        if total is not None:
            info["total"] = total
        with transaction.atomic():
            _beat(ctx, current_step=step)
    return info


def _finish_step(ctx: _Ctx, step: str, **counters: Any) -> None:
    info = ctx.step_state(step)
    info["state"] = "done"
    info["finished_at"] = _iso(timezone.now())
    _beat(ctx, **counters)


def _take_lease(run_id: int, worker_id: str) -> str | None:
    now = timezone.now()
    stale = now - timedelta(seconds=settings.DUSK_RUN_STUCK_AFTER)
    lease = uuid.uuid4().hex
    took = (
        CutoverRun.objects.filter(pk=run_id)
        .filter(Q(state=RunState.QUEUED) | Q(state=RunState.RUNNING, heartbeat_at__lt=stale))
        .update(
            state=RunState.RUNNING,
            lease=lease,
            worker_id=worker_id[:200],
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            started_at=Coalesce(F("started_at"), now),
        )
    )
    return lease if took else None


def run_cutover(*, run_id: int, worker_id: str) -> str:
    """Run (or finish) one phase. Returns "completed", "failed" or "skipped"
    (another worker holds the run, or it is already finished)."""
    with log_context(run_id=run_id):
        return _run_cutover(run_id=run_id, worker_id=worker_id)


def _run_cutover(*, run_id: int, worker_id: str) -> str:
    lease = _take_lease(run_id, worker_id)
    if lease is None:
        return "skipped"
    run = CutoverRun.objects.select_related("phase", "plan").get(pk=run_id)
    bind_log_ids(plan_id=run.plan_id)
    if _supersede_if_overtaken(run, lease, worker_id):
        log.info("run %s: superseded by a later phase that is already due", run_id)
        return "skipped"
    log.info("run %s: started by %s", run_id, worker_id)
    ctx = _Ctx(
        run_id=run_id,
        lease=lease,
        worker_id=worker_id,
        phase=run.phase,
        plan=run.plan,
        channel_ids=phase_channel_ids(run.phase),
        steps=run.steps or {},
    )
    try:
        for step in STEP_ORDER:
            if step == Step.DONE:
                break  # settle_delivery ends the run once its messages are out
            if ctx.step_state(step)["state"] == "done":
                continue
            STEPS[step](ctx)
    except LeaseLost:
        log.warning("run %s: lease lost, another worker continues", run_id)
        return "skipped"
    except CutoverAborted as exc:
        log.warning("run %s: aborted: %s", run_id, exc)
        _fail(ctx, str(exc))
        return "failed"
    except TRANSIENT_ERRORS:
        _release(ctx)
        raise
    except Exception as exc:
        log.exception("run %s failed", run_id)
        _fail(ctx, f"{type(exc).__name__}: {exc}")
        return "failed"
    log.info("run %s: database steps done, delivering", run_id)
    return settle_delivery(run_id=run_id) or "delivering"


def _supersede_if_overtaken(run: CutoverRun, lease: str, worker_id: str) -> bool:
    """A notice or soft close that waited in the queue until its later phase fell due is
    superseded rather than run after it, as long as it has changed nothing yet."""
    if (run.steps or {}).get(Step.CHANNELS, {}).get("state") not in (None, "pending"):
        return False
    now = timezone.now()
    with transaction.atomic():
        SunsetPlan.objects.select_for_update().filter(pk=run.plan_id).first()
        phases = list(Phase.objects.filter(plan_id=run.plan_id))
        phase = next(p for p in phases if p.pk == run.phase_id)
        later = _later_due_phase(phases, phase, now)
        if later is None:
            return False
        if not CutoverRun.objects.filter(pk=run.pk, lease=lease, state=RunState.RUNNING).update(
            state=RunState.SKIPPED, superseded_by=later, finished_at=now, heartbeat_at=now, lease=""
        ):
            return False
        Phase.objects.filter(pk=phase.pk).update(state=PhaseState.SKIPPED)
        if not Phase.objects.filter(plan_id=run.plan_id, state=PhaseState.RUNNING).exists():
            SunsetPlan.objects.filter(pk=run.plan_id, state=PlanState.RUNNING).update(
                state=PlanState.SCHEDULED, updated_at=now
            )
        _record_superseded(run=run, phase=phase, by=later, actor_label=f"system:{worker_id}", now=now)
    return True


def _release(ctx: _Ctx) -> None:
    """Give the run back after a transient error so a retry can take it at once."""
    try:
        connection.close()
        CutoverRun.objects.filter(pk=ctx.run_id, lease=ctx.lease).update(state=RunState.QUEUED, lease="")
    except DatabaseError:
        pass  # the reaper will hand it back once the heartbeat is stale


def _fail(ctx: _Ctx, reason: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        run = CutoverRun.objects.select_for_update().get(pk=ctx.run_id)
        if run.lease != ctx.lease:
            return
        errors = [*run.errors, {"at": _iso(now), "step": run.current_step, "error": reason}]
        CutoverRun.objects.filter(pk=ctx.run_id).update(
            state=RunState.FAILED, errors=errors, finished_at=now, heartbeat_at=now, steps=ctx.steps
        )
        Phase.objects.filter(pk=ctx.phase.pk).update(state=PhaseState.FAILED)
        SunsetPlan.objects.filter(pk=ctx.plan.pk).update(state=PlanState.FAILED, updated_at=now)
        PlanChannel.objects.filter(plan_id=ctx.plan.pk).update(is_open=False)
        queue_run_failure_notices(run=run, reason=reason)
        record_event(
            actor=None,
            actor_label=f"system:{ctx.worker_id}",
            action="run.failed",
            obj=run,
            before={"state": RunState.RUNNING},
            after={"state": RunState.FAILED, "error": reason},
        )


# --- the steps --------------------------------------------------------------------------


def _step_freeze(ctx: _Ctx) -> None:
    _start_step(ctx, Step.FREEZE)
    plan = SunsetPlan.objects.select_related("author", "approved_by").get(pk=ctx.plan.pk)
    phase = Phase.objects.get(pk=ctx.phase.pk)
    # Permissions and approval are checked again now, not only when scheduled.
    if plan.state != PlanState.RUNNING or phase.state != PhaseState.RUNNING:
        raise CutoverAborted(f"The plan is {plan.state} and the phase {phase.state}: nothing to run.")
    approver = plan.approved_by
    if approver is None or plan.approved_at is None:
        raise CutoverAborted("The plan has no approval.")
    if approver.pk == plan.author_id:
        raise CutoverAborted("The plan was approved by its own author.")
    if not (approver.is_active and can(approver, "approve_plan")):
        raise CutoverAborted(f"{approver.get_username()} approved the plan but no longer holds the approver role.")
    if not (plan.author.is_active and (has_role(plan.author, MANAGER) or can(plan.author, "draft_plan"))):
        raise CutoverAborted(f"The author {plan.author.get_username()} no longer holds the manager role.")
    # The preflight again, before anything changes: credentials revoked or a platform down since
    # approval fail the run now, loudly, rather than every customer's notice later.
    connections = check_connections(Channel.objects.filter(pk__in=ctx.channel_ids).order_by("name"))
    preflight = run_preflight(plan, connections=connections, readiness=False)
    if not preflight.ok:
        raise CutoverAborted("Preflight failed: " + " ".join(preflight.messages))
    with transaction.atomic():
        run = CutoverRun.objects.get(pk=ctx.run_id)
        snapshot = run.snapshot
        if not snapshot:
            # Taken once: a re-run must not overwrite the pre-cutover picture.
            snapshot = {
                "taken_at": _iso(timezone.now()),
                "channels": {
                    str(pk): {"state": state, "archived_at": archived.isoformat() if archived else None}
                    for pk, state, archived in Channel.objects.filter(pk__in=ctx.channel_ids).values_list(
                        "pk", "state", "archived_at"
                    )
                },
                "open_conversations": Conversation.objects.filter(
                    channel_id__in=ctx.channel_ids, state=ConversationState.OPEN
                ).count(),
                "reassignments": list(
                    phase_reassignments(phase, ctx.channel_ids).order_by("id").values_list("id", flat=True)
                ),
                "plan_version": plan.version,
            }
        _finish_step(ctx, Step.FREEZE, snapshot=snapshot)


def _step_channels(ctx: _Ctx) -> None:
    _start_step(ctx, Step.CHANNELS, total=len(ctx.channel_ids))
    target = CHANNEL_STATE_FOR_PHASE[ctx.phase.kind]
    now = timezone.now()
    with transaction.atomic():
        # Within a plan a channel's state only moves forward: a phase never undoes a later one.
        behind = CHANNEL_STATES_IN_ORDER[: CHANNEL_STATES_IN_ORDER.index(target)]
        changed = Channel.objects.filter(pk__in=ctx.channel_ids, state__in=behind).update(state=target, updated_at=now)
        if ctx.phase.kind == PhaseKind.ARCHIVE:
            Channel.objects.filter(pk__in=ctx.channel_ids, archived_at__isnull=True).update(archived_at=now)
        ctx.step_state(Step.CHANNELS)["done"] = len(ctx.channel_ids)
        if changed:
            record_event(
                actor=None,
                actor_label=f"system:{ctx.worker_id}",
                action="channels.state_changed",
                obj=ctx.phase,
                after={"channels": ctx.channel_ids, "state": target},
            )
        _finish_step(ctx, Step.CHANNELS)


def _step_publishing(ctx: _Ctx) -> None:
    """The public notice: this phase's changes on the channels themselves (the forum topic, the
    X post, the Messenger greeting, the YouTube description), each made once, with what it
    replaced captured for rollback (platforms/services/publications.py). A change the platform
    refuses stops that channel (its changes made earlier in the run undone, its later ones not
    made) and is shown on the run page; the run goes on."""
    info = _start_step(ctx, Step.PUBLISHING)
    run = CutoverRun.objects.select_related("phase", "plan").get(pk=ctx.run_id)
    with transaction.atomic():
        info["total"] = queue_publications(run=run, channel_ids=ctx.channel_ids)
        _beat(ctx)

    def beat() -> None:
        _beat(ctx)

    report = publish_pending(run_id=ctx.run_id, beat=beat)
    with transaction.atomic():
        info["done"] = report.published
        info["failed"] = report.failed + report.waiting + report.undone
        fields: dict[str, Any] = {}
        if report.failed:
            now = _iso(timezone.now())
            refused = Publication.objects.filter(run_id=ctx.run_id, state=PublicationState.FAILED).select_related(
                "channel"
            )
            run = CutoverRun.objects.get(pk=ctx.run_id)
            known = {e.get("error") for e in run.errors}
            new = [
                {"at": now, "step": Step.PUBLISHING, "error": f"{p.channel.name}: {p.action}: {p.error}"}
                for p in refused
            ]
            fields["errors"] = [*run.errors, *(e for e in new if e["error"] not in known)]
        _finish_step(ctx, Step.PUBLISHING, **fields)


def _outbox_table() -> str:
    return connection.ops.quote_name(OutboxMessage._meta.db_table)


# One hand-off notice per customer and channel (it lists all their references). The unique dedupe
# key makes a repeat, the same customer met again in a later chunk, or a re-run after a rollback
# that kept a sent notice, a no-op.
_HANDOFF_COLUMNS = """(channel_id, conversation_id, kind, phase_kind, dedupe_key, created_by_run_id,
                        state, attempts, rendered_text, platform_response_id, last_error, created_at)"""
_HANDOFF_ROW = """{alias}.channel_id, MIN({alias}.id), %s, %s,
                  %s || {alias}.channel_id || ':' || md5({alias}.customer_id), %s, %s, 0, '', '', '', %s"""


def _handoff_params(ctx: _Ctx, now: datetime) -> list[Any]:
    return [OutboxKind.HANDOFF, ctx.phase.kind, "handoff:", ctx.run_id, OutboxState.PENDING, now]


def _move_chunk_with_handoffs(ctx: _Ctx, conv_table: str, target, lo: int, hi: int, now: datetime) -> tuple[int, int]:
    """PostgreSQL: move a chunk and write its hand-offs in one statement, grouped from the rows
    the UPDATE returned. (Selecting them again by run let PostgreSQL take the run index, whose
    statistics say no row has that run yet: each chunk then read every conversation moved before.)"""
    with connection.cursor() as cur:
        cur.execute(
            f"""
            WITH moved AS (
                UPDATE {conv_table} SET state = %s, redirected_to_id = %s, moved_by_run_id = %s
                WHERE id >= %s AND id <= %s AND state = %s AND channel_id = ANY(%s)
                RETURNING id, channel_id, customer_id
            ), queued AS (
                INSERT INTO {_outbox_table()} {_HANDOFF_COLUMNS}
                SELECT {_HANDOFF_ROW.format(alias="m")}
                FROM moved m
                GROUP BY m.channel_id, m.customer_id
                ON CONFLICT DO NOTHING
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM queued)
            """,
            [
                ConversationState.REDIRECTED,
                target.pk if target else None,
                ctx.run_id,
                lo,
                hi,
                ConversationState.OPEN,
                list(ctx.channel_ids),
                *_handoff_params(ctx, now),
            ],
        )
        moved, handoffs = cur.fetchone()
    return moved, handoffs


def _queue_handoffs(ctx: _Ctx, conv_table: str, lo: int, hi: int, now: datetime) -> int:
    """The hand-offs of a chunk just moved, selected by run and id range (SQLite)."""
    with connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO {_outbox_table()} {_HANDOFF_COLUMNS}
            SELECT {_HANDOFF_ROW.format(alias="c")}
            FROM {conv_table} c
            WHERE c.moved_by_run_id = %s AND c.id >= %s AND c.id <= %s
            GROUP BY c.channel_id, c.customer_id
            ON CONFLICT DO NOTHING
            """,
            [*_handoff_params(ctx, now), ctx.run_id, lo, hi],
        )
        return max(cur.rowcount, 0)


def _step_conversations(ctx: _Ctx) -> None:
    kind = ctx.phase.kind
    open_qs = Conversation.objects.filter(channel_id__in=ctx.channel_ids, state=ConversationState.OPEN)
    if kind not in (PhaseKind.HARD_CLOSE, PhaseKind.ARCHIVE):
        _start_step(ctx, Step.CONVERSATIONS, total=0)
        with transaction.atomic():
            _finish_step(ctx, Step.CONVERSATIONS)
        return
    info = _start_step(ctx, Step.CONVERSATIONS, total=open_qs.count())
    target = ctx.plan.redirects.order_by("position").first()
    chunk = settings.DUSK_CHUNK_SIZE
    pause = settings.DUSK_CHUNK_PAUSE
    conv_table = connection.ops.quote_name(Conversation._meta.db_table)
    # Keyset: each chunk starts after the last one, so finding it never re-reads the rows already
    # moved (from the start every time, a million conversations cost quadratic time). A
    # conversation committed late with a lower id is found by one last pass from the start.
    last = 0
    while True:
        with transaction.atomic():
            ids = list(open_qs.filter(id__gt=last).order_by("id").values_list("id", flat=True)[:chunk])
            if not ids and last:
                last = 0
                continue
            if not ids:
                _finish_step(ctx, Step.CONVERSATIONS)
                return
            lo, hi = ids[0], ids[-1]
            last = hi
            now = timezone.now()
            if kind == PhaseKind.ARCHIVE:
                moved = open_qs.filter(id__gte=lo, id__lte=hi).update(
                    state=ConversationState.CLOSED, moved_by_run_id=ctx.run_id
                )
                handoffs = 0
            else:
                # The chunk's conversations are moved and their hand-off notices written in the
                # same transaction.
                if connection.vendor == "postgresql":
                    moved, handoffs = _move_chunk_with_handoffs(ctx, conv_table, target, lo, hi, now)
                else:  # SQLite (the embedded demo): the same two writes, one after the other
                    moved = open_qs.filter(id__gte=lo, id__lte=hi).update(
                        state=ConversationState.REDIRECTED, redirected_to=target, moved_by_run_id=ctx.run_id
                    )
                    handoffs = _queue_handoffs(ctx, conv_table, lo, hi, now)
            info["done"] += moved
            _beat(
                ctx,
                conversations_moved=F("conversations_moved") + moved,
                handoffs_queued=F("handoffs_queued") + handoffs,
            )
        if pause:
            time_module.sleep(pause)


def _step_reassignments(ctx: _Ctx) -> None:
    if ctx.phase.kind != PhaseKind.HARD_CLOSE:
        _start_step(ctx, Step.REASSIGNMENTS, total=0)
        with transaction.atomic():
            _finish_step(ctx, Step.REASSIGNMENTS)
        return
    active = phase_reassignments(ctx.phase, ctx.channel_ids)
    info = _start_step(ctx, Step.REASSIGNMENTS, total=active.count())
    day = ctx.phase.local_date
    a_table = connection.ops.quote_name(Assignment._meta.db_table)
    r_table = connection.ops.quote_name(Reassignment._meta.db_table)
    with transaction.atomic():
        # Mark this run's moves done, end the old assignments, start the new ones: set-based
        # statements in one transaction, all or nothing. (Marking and "done" are one UPDATE: at
        # 100,000 moves a second pass over the same rows cost seconds; a rollback clears both.)
        done = active.filter(applied_by_run__isnull=True).update(
            applied_by_run_id=ctx.run_id, state=ReassignmentState.DONE
        )
        mine = Reassignment.objects.filter(applied_by_run_id=ctx.run_id)
        Assignment.objects.filter(ends_on__isnull=True, starts_on__lte=day).filter(
            Exists(mine.filter(agent_id=OuterRef("agent_id"), from_team_id=OuterRef("team_id")))
        ).update(ends_on=day, ended_by_run_id=ctx.run_id)
        with connection.cursor() as cur:
            cur.execute(
                f"""
                INSERT INTO {a_table} (agent_id, team_id, role, starts_on, ends_on, created_by_run_id, ended_by_run_id)
                SELECT r.agent_id, r.to_team_id, r.role, %s, NULL, %s, NULL
                FROM {r_table} r
                WHERE r.applied_by_run_id = %s
                  AND NOT EXISTS (
                    SELECT 1 FROM {a_table} a
                    WHERE a.agent_id = r.agent_id AND a.team_id = r.to_team_id AND a.ends_on IS NULL)
                ON CONFLICT DO NOTHING
                """,
                [day, ctx.run_id, ctx.run_id],
            )
        info["done"] = done
        record_event(
            actor=None,
            actor_label=f"system:{ctx.worker_id}",
            action="reassignments.applied",
            obj=ctx.phase,
            after={"agents": done, "effective": day},
        )
        _finish_step(ctx, Step.REASSIGNMENTS, agents_reassigned=F("agents_reassigned") + done)


def _queue_notifications(ctx: _Ctx) -> None:
    """Write one Notification row per recipient, set-based and idempotent."""
    plan = SunsetPlan.objects.select_related("author", "approved_by").get(pk=ctx.plan.pk)
    phase_label = ctx.phase.get_kind_display()
    rows: list[Notification] = []
    for user in filter(None, [plan.author, plan.approved_by]):
        if user.email:
            rows.append(
                Notification(
                    run_id=ctx.run_id,
                    kind="phase_report",
                    recipient=user.email,
                    subject=f"[Dusk] {plan.title}: {phase_label} phase ran",
                    body="",
                )
            )
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    if ctx.phase.kind == PhaseKind.HARD_CLOSE:
        n_table = connection.ops.quote_name(Notification._meta.db_table)
        r_table = connection.ops.quote_name(Reassignment._meta.db_table)
        ag_table = connection.ops.quote_name(Agent._meta.db_table)
        # Agents HR already emailed about this exact move are not emailed again.
        an_table = connection.ops.quote_name(AgentNotice._meta.db_table)
        with connection.cursor() as cur:
            cur.execute(
                f"""
                INSERT INTO {n_table} (run_id, kind, recipient, agent_id, subject, body, state)
                SELECT %s, 'reassignment', ag.email, ag.id, %s, '', %s
                FROM {r_table} r JOIN {ag_table} ag ON ag.id = r.agent_id
                WHERE r.applied_by_run_id = %s AND r.state = %s AND ag.email <> ''
                  AND NOT EXISTS (
                    SELECT 1 FROM {an_table} an
                    WHERE an.reassignment_id = r.id AND an.to_team_id = r.to_team_id
                      AND an.effective_date = r.effective_date AND an.role = r.role AND an.state = %s)
                ON CONFLICT DO NOTHING
                """,
                [
                    ctx.run_id,
                    f"[Dusk] Your new role from {ctx.phase.local_date}",
                    NotificationState.PENDING,
                    ctx.run_id,
                    ReassignmentState.DONE,
                    NoticeState.SENT,
                ],
            )


NOTE_FIELDS = ("id", "kind", "recipient", "agent_id", "subject")
MOVE_FIELDS = (
    "agent_id",
    "agent__name",
    "agent__languages",
    "agent__preferred_language",
    "effective_date",
    "role",
    "to_team__name",
    "to_team__site",
    "to_team__time_zone",
)


def _moves(plan_id: int, agent_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The moves a batch of emails describes, as plain rows (a batch of a 100,000-email run
    builds no model instances for them)."""
    rows = Reassignment.objects.filter(plan_id=plan_id, agent_id__in=agent_ids).values(*MOVE_FIELDS)
    return {row["agent_id"]: row for row in rows}


def _channel_names(ctx: _Ctx) -> list[str]:
    ids = ctx.channel_ids or phase_channel_ids(ctx.phase)
    return list(Channel.objects.filter(pk__in=ids).order_by("name").values_list("name", flat=True))


def _agent_email(ctx: _Ctx, move: dict[str, Any], channels: list[str]) -> tuple[str, str]:
    """A moved agent's email, in the agent's language (the one they prefer, else the first they
    speak among en, fr, id) and worded for the moment it is sent: the hard close has run, the
    channels have retired."""
    with translation.override(move["agent__preferred_language"] or notice_language(move["agent__languages"])):
        named = pgettext("channels", ", ").join(channels) or ctx.plan.title
        retired = ngettext(
            "The support channel you work on, %(channels)s, has retired.",
            "The support channels you work on (%(channels)s) have retired.",
            len(channels) or 1,
        ) % {"channels": named}
        values = {
            "date": date_format(move["effective_date"], "l j F Y"),
            "team": move["to_team__name"],
            "role": move["role"],
        }
        joining = (
            gettext("From %(date)s you join %(team)s as %(role)s.") % values
            if move["role"]
            else gettext("From %(date)s you join %(team)s.") % values
        )
        where = gettext("Site: %(site)s · time zone: %(zone)s") % {
            "site": move["to_team__site"] or gettext("unchanged"),
            "zone": move["to_team__time_zone"],
        }
        body = "\n".join(
            [
                gettext("Hello %(name)s,") % {"name": move["agent__name"]},
                "",
                f"{ctx.plan.title}: {retired}",
                joining,
                where,
                "",
                gettext("Questions? Reply to this email or contact %(contact)s.")
                % {"contact": gettext("your HR coordinator")},
            ]
        )
        subject = gettext("[Dusk] Your new team from %(date)s: %(team)s") % {
            "date": date_format(move["effective_date"], "j F Y"),
            "team": move["to_team__name"],
        }
    return subject, body + "\n"


def _email(note: Notification, ctx: _Ctx, run: CutoverRun, moves: dict[int, dict[str, Any]], channels: list[str]):
    """The email a Notification row stands for: a moved agent's in their language, a phase
    report to the plan's author and approver otherwise."""
    if note.kind == "reassignment" and note.agent_id in moves:
        subject, body = _agent_email(ctx, moves[note.agent_id], channels)
    else:
        subject = note.subject
        body = (
            f"{ctx.plan.title}: the {ctx.phase.get_kind_display()} phase ran at "
            f"{ctx.phase.instant:%Y-%m-%d %H:%M} UTC.\n"
            f"Conversations moved: {run.conversations_moved}; hand-off notices queued: {run.handoffs_queued}; "
            f"agents reassigned: {run.agents_reassigned}.\n"
        )
    return EmailMessage(subject=subject, body=body, to=[note.recipient], headers={"Message-ID": note.message_id})


def send_run_emails(*, run_id: int) -> int:
    """Send a finished run's emails that were queued again (retry from the run page)."""
    run = CutoverRun.objects.select_related("phase", "plan").get(pk=run_id)
    ctx = _Ctx(run_id=run.pk, lease="", worker_id="retry", phase=run.phase, plan=run.plan, channel_ids=[])
    mine = Notification.objects.filter(run_id=run.pk).exclude(kind__in=OWNER_NOTICE_KINDS)
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            mine.select_for_update(skip_locked=True)
            .filter(state=NotificationState.PENDING)
            .values_list("id", flat=True)
        )
        mine.filter(pk__in=ids).update(state=NotificationState.SENDING, claimed_at=now)
    notes = list(mine.filter(pk__in=ids).order_by("id"))
    moves = _moves(run.plan_id, [n.agent_id for n in notes if n.agent_id])
    channels = _channel_names(ctx)
    items = [(n.pk, _email(n, ctx, run, moves, channels)) for n in notes]

    def record_sent(keys) -> set:
        return record_group(Notification._meta.db_table, keys, now)

    def record_refused(pk, error: str) -> None:
        mine.filter(pk=pk).update(state=NotificationState.FAILED)

    try:
        return send_recorded(items, record_sent=record_sent, record_refused=record_refused)
    except (OSError, smtplib.SMTPException):
        mine.filter(pk__in=ids, state=NotificationState.SENDING).update(state=NotificationState.FAILED)
        return 0


def _step_notifications(ctx: _Ctx) -> None:
    with transaction.atomic():
        _queue_notifications(ctx)
    mine = Notification.objects.filter(run_id=ctx.run_id).exclude(kind__in=OWNER_NOTICE_KINDS)
    info = _start_step(ctx, Step.NOTIFICATIONS, total=mine.count())
    info["total"] = mine.count()
    # Rows a previous lease holder claimed but never recorded were not delivered
    # (see channels_app.mail); we hold the lease now, so they are ours to send.
    # Re-claiming changes claimed_at, so a paused former holder can no longer
    # record them and hangs up instead of delivering.
    with transaction.atomic():
        mine.filter(state=NotificationState.SENDING).update(state=NotificationState.PENDING)
        _beat(ctx)
    channels = _channel_names(ctx)
    # Keyset, as for conversations: a batch never re-reads the rows already sent; one last pass
    # from the start finds anything left behind.
    last = 0
    while True:
        now = timezone.now()
        with transaction.atomic():
            ids = list(
                mine.filter(state=NotificationState.PENDING, pk__gt=last)
                .order_by("id")
                .values_list("id", flat=True)[: settings.DUSK_EMAIL_BATCH]
            )
            if not ids and last:
                last = 0
                continue
            if not ids:
                _finish_step(ctx, Step.NOTIFICATIONS)
                return
            last = ids[-1]
            mine.filter(pk__in=ids).update(state=NotificationState.SENDING, claimed_at=now)
            _beat(ctx)
        run = CutoverRun.objects.get(pk=ctx.run_id)
        notes = list(mine.filter(pk__in=ids).only(*NOTE_FIELDS).order_by("id"))
        moves = _moves(ctx.plan.pk, [n.agent_id for n in notes if n.agent_id])
        items = [(note.pk, _email(note, ctx, run, moves, channels)) for note in notes]
        refused: list[str] = []

        def record_sent(keys, claimed_at=now) -> set:
            return record_group(Notification._meta.db_table, keys, claimed_at)

        def record_refused(pk, error: str, refused=refused) -> None:
            mine.filter(pk=pk).update(state=NotificationState.FAILED)
            refused.append(error)

        try:
            sent = send_recorded(items, record_sent=record_sent, record_refused=record_refused)
        except (OSError, smtplib.SMTPException) as exc:
            # The mail server is unreachable: nothing unrecorded was delivered.
            sent = mine.filter(pk__in=ids, state=NotificationState.SENT).count()
            mine.filter(pk__in=ids, state=NotificationState.SENDING).update(state=NotificationState.FAILED)
            refused.append(f"email: {exc}")
        with transaction.atomic():
            info["done"] += sent
            fields: dict[str, Any] = {"notifications_sent": F("notifications_sent") + sent}
            if refused:
                run = CutoverRun.objects.get(pk=ctx.run_id)
                fields["errors"] = [
                    *run.errors,
                    *({"at": _iso(now), "step": Step.NOTIFICATIONS, "error": e} for e in refused[:20]),
                ]
            _beat(ctx, **fields)


def _step_delivering(ctx: _Ctx) -> None:
    """The database steps are done: the phase is complete and the next one may start, while
    the run shows "Delivering" until every hand-off notice and email it wrote is sent or failed."""
    _start_step(ctx, Step.DELIVERING)
    now = timezone.now()
    with transaction.atomic():
        run = CutoverRun.objects.get(pk=ctx.run_id)
        counts = run_delivery_counts(run.pk)
        info = ctx.step_state(Step.DELIVERING)
        info["total"] = counts.total
        info["done"] = counts.sent + counts.failed
        _beat(ctx, current_step=Step.DELIVERING)
        CutoverRun.objects.filter(pk=ctx.run_id, lease=ctx.lease).update(
            state=RunState.DELIVERING, lease="", finished_at=now
        )
        Phase.objects.filter(pk=ctx.phase.pk).update(state=PhaseState.COMPLETED)
        remaining = Phase.objects.filter(plan_id=ctx.plan.pk).exclude(
            state__in=[PhaseState.COMPLETED, PhaseState.CANCELLED, PhaseState.SKIPPED]
        )
        plan_state = PlanState.COMPLETED if not remaining.exists() else PlanState.SCHEDULED
        if not remaining.filter(state=PhaseState.RUNNING).exists():
            SunsetPlan.objects.filter(pk=ctx.plan.pk, state=PlanState.RUNNING).update(state=plan_state, updated_at=now)
        if plan_state == PlanState.COMPLETED:
            PlanChannel.objects.filter(plan_id=ctx.plan.pk).update(is_open=False)
        record_event(
            actor=None,
            actor_label=f"system:{ctx.worker_id}",
            action="run.delivering",
            obj=run,
            before={"state": RunState.RUNNING},
            after={
                "state": RunState.DELIVERING,
                "phase": ctx.phase.kind,
                "conversations_moved": run.conversations_moved,
                "handoffs_queued": run.handoffs_queued,
                "agents_reassigned": run.agents_reassigned,
                "seconds": (now - run.started_at).total_seconds() if run.started_at else None,
                "attempts": run.attempts,
            },
        )
    if counts.total:
        kick_outbox()


def settle_delivery(*, run_id: int, now: datetime | None = None) -> str | None:
    """End a delivering run once nothing of it is pending: "completed" when everything was
    delivered, "completed_with_failures" otherwise (its owners are emailed once). Returns the
    new state, or None while delivery goes on. Safe to call from any worker at any time."""
    now = now or timezone.now()
    with transaction.atomic():
        run = CutoverRun.objects.select_for_update().filter(pk=run_id, state=RunState.DELIVERING).first()
        if run is None:
            return None
        counts = run_delivery_counts(run.pk)
        steps = run.steps or {}
        info = steps.setdefault(Step.DELIVERING, {"state": "running", "done": 0, "total": 0})
        info["total"] = counts.total
        info["done"] = counts.sent + counts.failed
        # Public changes queued again from the run page are still to be made.
        waiting = Publication.objects.filter(
            run_id=run.pk, state__in=[PublicationState.PENDING, PublicationState.PUBLISHING]
        ).exists()
        if counts.unsettled or waiting:
            CutoverRun.objects.filter(pk=run.pk).update(steps=steps)
            return None
        info["state"] = "done"
        info["finished_at"] = _iso(now)
        steps[Step.DONE] = {"state": "done", "done": 1, "total": 1, "started_at": _iso(now), "finished_at": _iso(now)}
        # A public change the platform refused counts like a message not delivered.
        unpublished = Publication.objects.filter(run_id=run.pk, state=PublicationState.FAILED).exists()
        state = RunState.COMPLETED if not (counts.failed or unpublished) else RunState.COMPLETED_WITH_FAILURES
        CutoverRun.objects.filter(pk=run.pk).update(
            state=state,
            steps=steps,
            current_step=Step.DONE,
            delivered_at=now,
            finished_at=Coalesce(F("finished_at"), now),
            notifications_sent=counts.emails_sent,
        )
        record_event(
            actor=None,
            actor_label="system:delivery",
            action="run.completed",
            obj=run,
            before={"state": RunState.DELIVERING},
            after={
                "state": state,
                "sent": counts.sent,
                "failed": counts.failed,
                "handoffs_sent": counts.handoffs_sent,
                "handoffs_failed": counts.handoffs_failed,
                "emails_sent": counts.emails_sent,
                "emails_failed": counts.emails_failed,
            },
        )
        if counts.failed and run.rolled_back_at is None:
            queue_delivery_failure_notices(run=run, counts=counts)
    return state


def publish_run_changes(*, run_id: int) -> str | None:
    """Make a delivering run's public changes that wait (retried from the run page), then settle
    the run. Safe to run twice: each change is looked up on its platform before a retry."""
    if not CutoverRun.objects.filter(pk=run_id, state=RunState.DELIVERING, rolled_back_at__isnull=True).exists():
        return None
    report = publish_pending(run_id=run_id)
    with transaction.atomic():
        run = CutoverRun.objects.select_for_update().get(pk=run_id)
        steps = run.steps or {}
        info = steps.get(Step.PUBLISHING)
        if info is not None:
            info["done"] = report.published
            info["failed"] = report.failed + report.waiting + report.undone
            CutoverRun.objects.filter(pk=run_id).update(steps=steps)
    return settle_delivery(run_id=run_id)


def settle_delivering_runs(*, now: datetime | None = None) -> list[int]:
    """Settle every run still delivering; returns the ids that ended."""
    ended = []
    for run_id in CutoverRun.objects.filter(state=RunState.DELIVERING).values_list("id", flat=True)[:200]:
        if settle_delivery(run_id=run_id, now=now):
            ended.append(run_id)
    return ended


STEPS = {
    Step.FREEZE: _step_freeze,
    Step.CHANNELS: _step_channels,
    Step.PUBLISHING: _step_publishing,
    Step.CONVERSATIONS: _step_conversations,
    Step.REASSIGNMENTS: _step_reassignments,
    Step.NOTIFICATIONS: _step_notifications,
    Step.DELIVERING: _step_delivering,
}
