"""What a plan tells people as it moves: submission (to the approvers), send-back and approval (to
its author), a run's start (to author and approver), and, on the outgoing webhook
(DUSK_NOTIFY_WEBHOOK_URL) when one is set, those four and the run failures and undelivered messages
that cutover/services/delivery.py already emails to the owners.

Reliable like the run's own emails: `queue_plan_notices` writes one PlanNotice row per recipient and
event in the transaction of the change it announces (the unique key makes a repeat write nothing)
and queues the sender after the commit; `send_plan_notices` sends what is due, each email exactly
once (core/mail.py, a stable Message-ID), each webhook post until the receiver answers 2xx (a stable
id in the body and the Idempotency-Key header lets it drop a repeat), retried with backoff, a failure
recorded in the plan's History. Beat runs the sender too, for retries and for a lost task.
"""

import logging
import smtplib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_app.audit.services import record_event
from channels_app.core.hosts import GuardedTransport, HostRefused, check_url
from channels_app.core.logs import redact, redact_url
from channels_app.core.mail import record_group, send_recorded
from channels_app.core.permissions import APPROVER
from channels_app.core.queue import kick_on_commit
from channels_app.models import (
    CutoverRun,
    NoticeChannel,
    NotificationState,
    PhaseKind,
    PhaseState,
    PlanEvent,
    PlanNotice,
    SunsetPlan,
    UserProfile,
)

log = logging.getLogger(__name__)

SEND_PLAN_NOTICES_TASK = "channels_app.tasks.send_plan_notices_task"

# Run failures and undelivered messages are emailed by cutover/services/delivery.py (Notification
# rows of the run); here they only go to the webhook.
EMAILED_EVENTS = frozenset({PlanEvent.SUBMITTED, PlanEvent.SENT_BACK, PlanEvent.APPROVED, PlanEvent.RUN_STARTED})
WEBHOOK_BATCH = 20


def _name(user) -> str:
    return (user.get_full_name() or user.username) if user else _("Dusk")


def _when(instant: datetime | None) -> str:
    return f"{instant:%Y-%m-%d %H:%M} UTC" if instant else "—"


def _link(name: str, pk: int) -> str:
    return settings.DUSK_PUBLIC_URL + reverse(name, args=[pk])


def _next_instant(plan: SunsetPlan) -> datetime | None:
    return (
        plan.phases.filter(state__in=[PhaseState.PENDING, PhaseState.SCHEDULED])
        .order_by("instant")
        .values_list("instant", flat=True)
        .first()
    )


def _words(event: str, facts: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, body, one line for the webhook) in the active language, for the moment it is sent."""
    f = {**facts, "phase": facts["phase_kind"].label if facts.get("phase_kind") else ""}
    if event == PlanEvent.SUBMITTED:
        return (
            _("[Dusk] “%(title)s” waits for your approval") % f,
            _(
                "%(actor)s submitted the sunset plan “%(title)s” for approval. Its first phase is due at "
                "%(when)s.\n\nReview it, then approve it or send it back with a comment:\n%(url)s\n"
            )
            % f,
            _("%(actor)s submitted “%(title)s” for approval.") % f,
        )
    if event == PlanEvent.SENT_BACK:
        return (
            _("[Dusk] “%(title)s” was sent back to you") % f,
            _(
                "%(actor)s sent your sunset plan “%(title)s” back. Their comment:\n\n%(comment)s\n\n"
                "Change the plan and submit it again:\n%(url)s\n"
            )
            % f,
            _("%(actor)s sent “%(title)s” back to its author.") % f,
        )
    if event == PlanEvent.APPROVED:
        body = (
            _("%(actor)s approved your sunset plan “%(title)s”. It is scheduled: its first phase runs at %(when)s.\n")
            % f
        )
        if f.get("comment"):
            body += "\n" + _("Their comment:\n\n%(comment)s\n") % f
        return (
            _("[Dusk] “%(title)s” is approved") % f,
            body + f"\n{f['url']}\n",
            _("%(actor)s approved “%(title)s”; its first phase runs at %(when)s.") % f,
        )
    if event == PlanEvent.RUN_STARTED:
        return (
            _("[Dusk] “%(title)s”: the %(phase)s phase has started") % f,
            _("The %(phase)s phase of “%(title)s” started at %(when)s. Follow its progress on the run page:\n%(url)s\n")
            % f,
            _("The %(phase)s phase of “%(title)s” has started.") % f,
        )
    if event == PlanEvent.RUN_FAILED:
        line = _("The %(phase)s phase of “%(title)s” failed and the plan stopped.") % f
    else:
        line = ngettext(
            "%(count)s message of the %(phase)s phase of “%(title)s” was not delivered.",
            "%(count)s messages of the %(phase)s phase of “%(title)s” were not delivered.",
            f["failed"],
        ) % {**f, "count": f["failed"]}
    return line, line, line


def _recipients(event: str, plan: SunsetPlan) -> list:
    if event not in EMAILED_EVENTS:
        return []
    if event == PlanEvent.SUBMITTED:
        people = (
            get_user_model()
            .objects.filter(groups__name=APPROVER, is_active=True)
            .exclude(pk=plan.author_id)
            .order_by("pk")
            .distinct()
        )
    elif event == PlanEvent.RUN_STARTED:
        people = [plan.author, plan.approved_by]
    else:
        people = [plan.author]
    return [u for u in dict.fromkeys(filter(None, people)) if u.email]


def email_languages(people: Iterable) -> dict[int, str]:
    """The language each person reads Dusk's emails in: their profile's, else the portal's."""
    people = list(people)
    chosen = dict(
        UserProfile.objects.filter(user__in=[u.pk for u in people])
        .exclude(language="")
        .values_list("user_id", "language")
    )
    return {u.pk: chosen.get(u.pk) or settings.LANGUAGE_CODE for u in people}


def queue_plan_notices(
    *,
    event: str,
    plan: SunsetPlan,
    occurrence: str,
    actor=None,
    run: CutoverRun | None = None,
    comment: str = "",
    failed: int = 0,
) -> int:
    """Write the emails and the webhook post announcing `event`, in the caller's transaction (the
    change's own), and queue the sender after its commit. Returns the number of rows offered; a
    repeat of the same occurrence writes none of them (the unique key)."""
    plan = SunsetPlan.objects.select_related("author", "approved_by").get(pk=plan.pk)
    facts: dict[str, Any] = {
        "title": plan.title,
        "actor": _name(actor),
        "comment": comment.strip(),
        "failed": failed,
        "phase_kind": PhaseKind(run.phase.kind) if run is not None else None,
        # Where the reader acts: the run, the review page for approvers, else the plan.
        "url": _link("run_detail", run.pk)
        if run is not None
        else _link("approval_review" if event == PlanEvent.SUBMITTED else "plan_detail", plan.pk),
        "when": _when((run.started_at or run.queued_at) if run is not None else _next_instant(plan)),
    }
    people = _recipients(event, plan)
    languages = email_languages(people)
    rows = []
    for user in people:
        language = languages[user.pk]
        with translation.override(language):
            subject, body, _line = _words(event, facts)
        rows.append(
            PlanNotice(
                plan=plan,
                run=run,
                event=event,
                occurrence=occurrence,
                channel=NoticeChannel.EMAIL,
                recipient=user.email,
                language=language,
                subject=subject[:200],
                body=body,
            )
        )
    if settings.DUSK_NOTIFY_WEBHOOK_URL:
        with translation.override(settings.LANGUAGE_CODE):
            _subject, _body, line = _words(event, facts)
        payload: dict[str, Any] = {
            "text": line,
            "event": str(event),
            "plan": {"id": plan.pk, "title": plan.title, "url": _link("plan_detail", plan.pk)},
            "actor": _name(actor) if actor else None,
            "occurred_at": timezone.now().isoformat(),
        }
        if comment.strip():
            payload["comment"] = comment.strip()
        if run is not None:
            payload["run"] = {"id": run.pk, "phase": run.phase.kind, "url": facts["url"]}
        if event == PlanEvent.DELIVERY_FAILURES:
            payload["failed"] = failed
        rows.append(
            PlanNotice(
                plan=plan,
                run=run,
                event=event,
                occurrence=occurrence,
                channel=NoticeChannel.WEBHOOK,
                language=settings.LANGUAGE_CODE,
                subject=line[:200],
                payload=payload,
            )
        )
    if not rows:
        return 0
    created = PlanNotice.objects.bulk_create(rows, ignore_conflicts=True)
    kick_on_commit(SEND_PLAN_NOTICES_TASK)
    return len(created)


# --- sending ----------------------------------------------------------------------------


def _backoff(attempts: int) -> timedelta:
    seconds = settings.DUSK_NOTIFY_BACKOFF_BASE * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.DUSK_NOTIFY_BACKOFF_MAX))


def _claim(channel: str, limit: int, now: datetime) -> list[PlanNotice]:
    """Take due rows of `channel`: pending ones whose time has come, and ones a silent sender
    claimed too long ago. The new claimed_at is this sender's token (core/mail.py)."""
    stale = now - timedelta(seconds=settings.DUSK_NOTIFY_STUCK_AFTER)
    due = PlanNotice.objects.filter(channel=channel).filter(
        Q(state=NotificationState.PENDING, next_attempt_at__isnull=True)
        | Q(state=NotificationState.PENDING, next_attempt_at__lte=now)
        | Q(state=NotificationState.SENDING, claimed_at__lt=stale)
    )
    with transaction.atomic():
        ids = list(due.select_for_update(skip_locked=True).order_by("id").values_list("id", flat=True)[:limit])
        PlanNotice.objects.filter(pk__in=ids).update(
            state=NotificationState.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    return list(
        PlanNotice.objects.filter(pk__in=ids, state=NotificationState.SENDING, claimed_at=now)
        .select_related("plan")
        .order_by("id")
    )


def _retry_later(notices: Iterable[PlanNotice], error: str, now: datetime) -> None:
    """Put claimed rows back for a later attempt; past the last attempt, give them up."""
    for notice in notices:
        if notice.channel == NoticeChannel.WEBHOOK and notice.attempts >= settings.DUSK_NOTIFY_WEBHOOK_ATTEMPTS:
            _give_up(notice, error, now)
            continue
        PlanNotice.objects.filter(pk=notice.pk, state=NotificationState.SENDING, claimed_at=now).update(
            state=NotificationState.PENDING, next_attempt_at=now + _backoff(notice.attempts), last_error=error[:500]
        )


def _give_up(notice: PlanNotice, error: str, now: datetime) -> None:
    """Failed for good: the row says why, and so does the plan's History."""
    with transaction.atomic():
        if not PlanNotice.objects.filter(pk=notice.pk, state=NotificationState.SENDING, claimed_at=now).update(
            state=NotificationState.FAILED, last_error=error[:500]
        ):
            return
        record_event(
            actor=None,
            actor_label="system:notify",
            action="plan.notice_failed",
            obj=notice.plan,
            after={
                "event": notice.event,
                "channel": notice.channel,
                "recipient": notice.recipient,
                "attempts": notice.attempts,
                "error": error[:500],
            },
        )
    log.warning("plan %s: %s notice by %s not delivered: %s", notice.plan_id, notice.event, notice.channel, error)


def _send_emails(now: datetime) -> int:
    sent = 0
    while True:
        notices = _claim(NoticeChannel.EMAIL, settings.DUSK_EMAIL_BATCH, now)
        if not notices:
            return sent
        items = [
            (
                n.pk,
                EmailMessage(subject=n.subject, body=n.body, to=[n.recipient], headers={"Message-ID": n.message_id}),
            )
            for n in notices
        ]
        by_pk = {n.pk: n for n in notices}

        def record_sent(keys, claimed_at=now) -> set:
            return record_group(PlanNotice._meta.db_table, keys, claimed_at)

        def record_refused(pk, error: str, by_pk=by_pk) -> None:
            _give_up(by_pk[pk], error, now)

        try:
            sent += send_recorded(items, record_sent=record_sent, record_refused=record_refused)
        except (OSError, smtplib.SMTPException) as exc:
            # Nothing unrecorded was delivered: try again later.
            log.warning("plan notices: the mail server cannot be reached, retrying later: %s", exc)
            _retry_later(
                PlanNotice.objects.filter(pk__in=by_pk, state=NotificationState.SENDING, claimed_at=now),
                f"{type(exc).__name__}: {exc}",
                now,
            )
            return sent


def _webhook_error(exc: Exception, url: str) -> str:
    return redact(f"{type(exc).__name__}: {exc}".replace(url, redact_url(url)))


def _post_webhooks(now: datetime) -> int:
    url = settings.DUSK_NOTIFY_WEBHOOK_URL
    allow_private = settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS
    sent = 0
    while True:
        notices = _claim(NoticeChannel.WEBHOOK, WEBHOOK_BATCH, now)
        if not notices:
            return sent
        try:
            if not url:
                raise HostRefused("DUSK_NOTIFY_WEBHOOK_URL is not set any more.")
            check_url(url, allow_private=allow_private)
        except HostRefused as exc:
            for notice in notices:
                _give_up(notice, f"{redact_url(url)}: {exc}", now)
            continue
        transport = GuardedTransport(allow_private=allow_private, limits=httpx.Limits(max_connections=1))
        with httpx.Client(transport=transport, timeout=settings.DUSK_NOTIFY_WEBHOOK_TIMEOUT) as client:
            for notice in notices:
                body = {**(notice.payload or {}), "id": notice.delivery_id}
                try:
                    response = client.post(
                        url, json=body, headers={"Idempotency-Key": notice.delivery_id, "User-Agent": "Dusk"}
                    )
                except httpx.HTTPError as exc:
                    error = _webhook_error(exc, url)
                    log.warning("webhook %s: %s (attempt %s)", redact_url(url), error, notice.attempts)
                    _retry_later([notice], error, now)
                    continue
                if response.is_success:
                    sent += PlanNotice.objects.filter(
                        pk=notice.pk, state=NotificationState.SENDING, claimed_at=now
                    ).update(state=NotificationState.SENT, sent_at=timezone.now(), last_error="")
                    continue
                error = f"{redact_url(url)} answered HTTP {response.status_code}"
                log.warning("webhook: %s (attempt %s)", error, notice.attempts)
                if response.status_code in (408, 429) or response.status_code >= 500:
                    _retry_later([notice], error, now)
                else:
                    _give_up(notice, error, now)


def send_plan_notices(*, now: datetime | None = None) -> int:
    """Send the plan notices that are due, emails then webhook posts; returns how many went out."""
    now = now or timezone.now()
    return _send_emails(now) + _post_webhooks(now)
