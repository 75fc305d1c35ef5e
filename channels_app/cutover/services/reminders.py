"""Reminder emails before each phase, exactly once per phase, offset and person."""

import smtplib
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from channels_app.core.mail import record_group, send_recorded
from channels_app.cutover.selectors import affected_agent_ids_for_phase
from channels_app.models import Agent, NotificationState, Phase, PhaseKind, PhaseState, Reminder


def _describe_offset(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    if days and not rest:
        return f"{days} day{'s' if days != 1 else ''}"
    hours = seconds // 3600
    return f"{hours} hour{'s' if hours != 1 else ''}" if hours else f"{seconds // 60} minutes"


def _recipients(phase: Phase) -> list[tuple[str, str]]:
    plan = phase.plan
    people = [
        (u.email, role) for u, role in ((plan.author, "manager"), (plan.approved_by, "approver")) if u and u.email
    ]
    if phase.kind == PhaseKind.HARD_CLOSE:
        emails = Agent.objects.filter(pk__in=affected_agent_ids_for_phase(phase), is_active=True).exclude(email="")
        people += [(e, "agent") for e in emails.values_list("email", flat=True)]
    return people


def queue_due_reminders(*, now: datetime | None = None) -> int:
    """Write the reminder rows that are due. The unique key makes repeating this
    (two beats, a restarted beat) a no-op."""
    now = now or timezone.now()
    offsets = sorted(settings.DUSK_REMINDER_OFFSETS, reverse=True)
    if not offsets:
        return 0
    phases = Phase.objects.filter(
        state=PhaseState.SCHEDULED, instant__gt=now, instant__lte=now + timedelta(seconds=offsets[0])
    ).select_related("plan__author", "plan__approved_by")
    created = 0
    for phase in phases:
        for offset in offsets:
            due_at = phase.instant - timedelta(seconds=offset)
            if now < due_at:
                continue
            # Approved after the reminder's moment: everyone involved just saw it.
            if phase.plan.approved_at and phase.plan.approved_at > due_at:
                continue
            rows = [
                Reminder(phase=phase, offset_seconds=offset, recipient=email, role=role)
                for email, role in _recipients(phase)
            ]
            with transaction.atomic():
                before = Reminder.objects.filter(phase=phase, offset_seconds=offset).count()
                Reminder.objects.bulk_create(rows, ignore_conflicts=True)
                created += Reminder.objects.filter(phase=phase, offset_seconds=offset).count() - before
    return created


def _body(reminder: Reminder) -> tuple[str, str]:
    phase = reminder.phase
    plan = phase.plan
    local = timezone.localtime(phase.instant, timezone=timezone.get_fixed_timezone(0))
    when = f"{phase.local_date:%d %B %Y} {phase.local_time:%H:%M} {phase.time_zone} ({local:%Y-%m-%d %H:%M} UTC)"
    subject = f"[Dusk] In {_describe_offset(reminder.offset_seconds)}: {plan.title} — {phase.get_kind_display()}"
    if reminder.role == "agent":
        text = (
            f"Hello,\n\nThe channels you work on retire at {when} ({plan.title}).\n"
            "Your coordinator has your new role and start date; ask them if anything is unclear.\n"
        )
    else:
        text = (
            f"{plan.title}: the {phase.get_kind_display()} phase runs at {when}.\n"
            "Check the plan and its reassignments in Dusk before then.\n"
        )
    return subject, text


def send_pending_reminders(*, now: datetime | None = None) -> int:
    """Send queued reminders in batches, each recorded exactly once (see
    channels_app.mail). Rows a dead sender claimed but never recorded were not
    delivered: after the stuck timeout they are claimed again."""
    sent_total = 0
    stale = timedelta(seconds=settings.DUSK_RUN_STUCK_AFTER)
    while True:
        now = timezone.now()
        todo = Reminder.objects.filter(
            Q(state=NotificationState.PENDING) | Q(state=NotificationState.SENDING, claimed_at__lt=now - stale)
        )
        with transaction.atomic():
            ids = list(todo.order_by("id").values_list("id", flat=True)[: settings.DUSK_EMAIL_BATCH])
            if not ids:
                return sent_total
            # claimed_at is this sender's token: a paused former sender can no
            # longer record these rows, so it hangs up instead of delivering.
            todo.filter(pk__in=ids).update(state=NotificationState.SENDING, claimed_at=now)
        reminders = list(
            Reminder.objects.filter(pk__in=ids, state=NotificationState.SENDING, claimed_at=now).select_related(
                "phase__plan"
            )
        )
        items = []
        for reminder in reminders:
            subject, text = _body(reminder)
            items.append(
                (
                    reminder.pk,
                    EmailMessage(
                        subject=subject, body=text, to=[reminder.recipient], headers={"Message-ID": reminder.message_id}
                    ),
                )
            )

        def record_sent(keys, claimed_at=now) -> set:
            return record_group(Reminder._meta.db_table, keys, claimed_at)

        def record_refused(pk, error: str) -> None:
            Reminder.objects.filter(pk=pk).update(state=NotificationState.FAILED)

        try:
            sent_total += send_recorded(items, record_sent=record_sent, record_refused=record_refused)
        except (OSError, smtplib.SMTPException):
            # Unreachable mail server: unrecorded rows were not delivered; they
            # are claimed again after the stuck timeout.
            return sent_total
