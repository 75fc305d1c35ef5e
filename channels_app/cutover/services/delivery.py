"""Delivery of what a run wrote: its hand-off notices (sent by the outbox) and its emails.

A run whose database steps are done is "Delivering" until each of them is sent or failed;
`engine.settle_delivery` then ends it. Failures are emailed once to the plan's author and
approver, and a manager can queue them again from the run page.
"""

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_app.audit.services import record_event
from channels_app.core.errors import InvalidTransition
from channels_app.core.mail import record_group, send_recorded
from channels_app.core.permissions import require
from channels_app.core.queue import enqueue_on_commit, kick_outbox
from channels_app.models import (
    CutoverRun,
    Notification,
    NotificationState,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    PlanEvent,
    Publication,
    PublicationState,
    RunState,
    SunsetPlan,
)
from channels_app.plans.selectors import OWNER_NOTICE_KINDS, DeliveryCounts
from channels_app.plans.services.notices import email_languages, queue_plan_notices

SEND_OWNER_NOTICES_TASK = "channels_app.tasks.send_owner_notices_task"


def _owners(plan: SunsetPlan) -> list:
    return [u for u in dict.fromkeys(filter(None, [plan.author, plan.approved_by])) if u.email]


def _delivery_failure_words(plan: SunsetPlan, run: CutoverRun, counts: DeliveryCounts) -> tuple[str, str]:
    facts = {
        "title": plan.title,
        "phase": run.phase.get_kind_display(),
        "count": counts.failed,
        "handoffs_sent": counts.handoffs_sent,
        "handoffs_failed": counts.handoffs_failed,
        "emails_sent": counts.emails_sent,
        "emails_failed": counts.emails_failed,
    }
    subject = ngettext(
        "[Dusk] %(title)s: %(count)s message of the %(phase)s phase was not delivered",
        "[Dusk] %(title)s: %(count)s messages of the %(phase)s phase were not delivered",
        counts.failed,
    )
    body = _(
        "The %(phase)s phase of %(title)s ran, but not everything reached the customers and agents.\n\n"
        "Hand-off notices: %(handoffs_sent)s sent, %(handoffs_failed)s failed.\n"
        "Emails: %(emails_sent)s sent, %(emails_failed)s failed.\n\n"
        "The run page lists each failure with its reason and can queue them again once the cause is fixed.\n"
    )
    return (subject % facts)[:200], body % facts + _run_link(run)


def queue_delivery_failure_notices(*, run: CutoverRun, counts: DeliveryCounts) -> int:
    """One email per owner (author, approver) per run, in the owner's language, whatever happens
    later: the unique key (run, kind, recipient) makes a second call, or a failed retry, write
    nothing."""
    plan = SunsetPlan.objects.select_related("author", "approved_by").get(pk=run.plan_id)
    owners = _owners(plan)
    languages = email_languages(owners)
    rows = []
    for user in owners:
        with translation.override(languages[user.pk]):
            subject, body = _delivery_failure_words(plan, run, counts)
        rows.append(
            Notification(run_id=run.pk, kind="delivery_failures", recipient=user.email, subject=subject, body=body)
        )
    created = Notification.objects.bulk_create(rows, ignore_conflicts=True)
    if rows:
        enqueue_on_commit(SEND_OWNER_NOTICES_TASK, run.pk)
    queue_plan_notices(
        event=PlanEvent.DELIVERY_FAILURES, plan=plan, occurrence=f"run:{run.pk}", run=run, failed=counts.failed
    )
    return len(created)


def _run_link(run: CutoverRun) -> str:
    """The run page's address, the last line of an owner's email (the plan notices link theirs)."""
    return "\n" + settings.DUSK_PUBLIC_URL + reverse("run_detail", args=[run.pk]) + "\n"


def queue_run_failure_notices(*, run: CutoverRun, reason: str) -> int:
    """When a run fails, its plan's author and approver are emailed, once per run and person, in
    their language."""
    plan = SunsetPlan.objects.select_related("author", "approved_by").get(pk=run.plan_id)
    owners = _owners(plan)
    languages = email_languages(owners)
    rows = []
    for user in owners:
        with translation.override(languages[user.pk]):
            facts = {"title": plan.title, "phase": run.phase.get_kind_display(), "reason": reason}
            subject = _("[Dusk] %(title)s: the %(phase)s phase failed") % facts
            body = (
                _(
                    "The %(phase)s phase of %(title)s failed and the plan stopped.\n\n"
                    "Reason: %(reason)s\n\nThe run page shows what was done before it stopped.\n"
                )
                % facts
            ) + _run_link(run)
        rows.append(
            Notification(run_id=run.pk, kind="run_failed", recipient=user.email, subject=subject[:200], body=body)
        )
    created = Notification.objects.bulk_create(rows, ignore_conflicts=True)
    if rows:
        enqueue_on_commit(SEND_OWNER_NOTICES_TASK, run.pk)
    queue_plan_notices(event=PlanEvent.RUN_FAILED, plan=plan, occurrence=f"run:{run.pk}", run=run)
    return len(created)


def send_owner_notices(*, run_id: int) -> int:
    """Send the run's pending emails to its owners, exactly once (channels_app.core.mail)."""
    mine = Notification.objects.filter(run_id=run_id, kind__in=OWNER_NOTICE_KINDS)
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            mine.select_for_update(skip_locked=True)
            .filter(state=NotificationState.PENDING)
            .values_list("id", flat=True)
        )
        mine.filter(pk__in=ids).update(state=NotificationState.SENDING, claimed_at=now)
    notes = list(mine.filter(pk__in=ids).order_by("id"))
    items = [
        (n.pk, EmailMessage(subject=n.subject, body=n.body, to=[n.recipient], headers={"Message-ID": n.message_id}))
        for n in notes
    ]

    def record_sent(keys) -> set:
        return record_group(Notification._meta.db_table, keys, now)

    def record_refused(pk, error: str) -> None:
        mine.filter(pk=pk).update(state=NotificationState.FAILED)

    try:
        return send_recorded(items, record_sent=record_sent, record_refused=record_refused)
    except (OSError, smtplib.SMTPException):
        # Nothing unrecorded was delivered: put them back for the next attempt.
        mine.filter(pk__in=ids, state=NotificationState.SENDING).update(state=NotificationState.PENDING)
        raise


@transaction.atomic
def retry_failed_deliveries(*, actor, run: CutoverRun | int) -> int:
    """Queue the run's undelivered hand-off notices and emails again; the run is
    "Delivering" until they are sent or fail again. Returns how many were queued."""
    require(actor, "manage_channels")
    run_id = run.pk if isinstance(run, CutoverRun) else run
    run = CutoverRun.objects.select_for_update().get(pk=run_id)
    if run.rolled_back_at is not None:
        raise InvalidTransition(_("This run was rolled back; there is nothing to deliver."))
    if run.state != RunState.COMPLETED_WITH_FAILURES:
        raise InvalidTransition(_("Only a run that completed with failures can be retried."))
    now = timezone.now()
    handoffs = OutboxMessage.objects.filter(
        created_by_run_id=run.pk, kind=OutboxKind.HANDOFF, state__in=[OutboxState.FAILED, OutboxState.SKIPPED]
    ).update(
        state=OutboxState.PENDING,
        attempts=0,
        next_attempt_at=None,
        claimed_by="",
        last_error="",
        requeued_at=now,
    )
    emails = (
        Notification.objects.filter(run_id=run.pk, state=NotificationState.FAILED)
        .exclude(kind__in=OWNER_NOTICE_KINDS)
        .update(state=NotificationState.PENDING)
    )
    # Public changes a platform refused (after fixing the cause: a permission, a category): made
    # again, each first looked up on its platform, then the run settles.
    publications = 0
    for publication in Publication.objects.filter(run_id=run.pk, state=PublicationState.FAILED):
        change = {
            **(publication.change or {}),
            "generation": int((publication.change or {}).get("generation") or 0) + 1,
        }
        publications += Publication.objects.filter(pk=publication.pk, state=PublicationState.FAILED).update(
            state=PublicationState.PENDING, error="", status_code=0, change=change
        )
    steps = run.steps or {}
    steps.pop("done", None)
    if "delivering" in steps:
        steps["delivering"]["state"] = "running"
    CutoverRun.objects.filter(pk=run.pk).update(
        state=RunState.DELIVERING, delivered_at=None, current_step="delivering", steps=steps
    )
    record_event(
        actor=actor,
        action="run.delivery_retried",
        obj=run,
        before={"state": RunState.COMPLETED_WITH_FAILURES},
        after={
            "state": RunState.DELIVERING,
            "handoffs_requeued": handoffs,
            "emails_requeued": emails,
            "publications_requeued": publications,
        },
    )
    if handoffs:
        kick_outbox()
    if emails:
        enqueue_on_commit("channels_app.tasks.send_run_emails_task", run.pk)
    if publications:
        enqueue_on_commit("channels_app.tasks.publish_run_changes_task", run.pk)
    return handoffs + emails + publications
