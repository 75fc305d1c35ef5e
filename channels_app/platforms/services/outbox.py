"""The outbox sender: auto-replies and hand-off notices, out to the platforms.

`send_due_replies` drains due rows in batches. For each batch:

1. **claim**: ``UPDATE ... SET state='sending' WHERE id IN (... FOR UPDATE SKIP LOCKED) AND
   state='pending'``; only this worker owns the claimed rows, for ``DUSK_OUTBOX_STUCK_AFTER``
   seconds (the lease). Rows a dead worker left in "sending" go back to pending after that,
   marked in doubt;
2. **loop guard**: never answer our own account or a machine (bounces, autoresponders);
3. **cooldown**: one auto-reply per customer and channel per ``DUSK_AUTO_REPLY_COOLDOWN``
   seconds, claimed with a conditional upsert on `ReplyCooldown`, so two workers never both
   answer the same customer; the others are marked skipped with the reason;
4. **render** the phase's auto-reply in the customer's locale (the platform's language field,
   else language detection on the text, else the plan's default locale), fill placeholders and
   check the platform's length rule (X: weighted length 280);
5. **pace** each channel to ``rate_limit_per_minute`` across all workers (`SendBudget`, a GCRA
   under a row lock); rows beyond the budget wait, unchanged, until their slot;
6. **send** concurrently (``DUSK_OUTBOX_CONCURRENCY`` threads, HTTP only: the database is used
   from this thread alone). A row in doubt (an earlier attempt may have reached the platform:
   its worker died mid-send, or it got a read timeout or a 5xx) is first looked up on the
   platform (our reply to that message since the doubtful attempt) and recorded, not sent, when
   found. No request starts unless it can finish within the lease, so a row is never sent by two
   workers at once. Email goes through `mail.send_recorded` (staged, recorded, then terminated);
7. **record** in one transaction, only for rows this claim still owns: sent (with the platform's
   id, and an outbound Message so a customer answering our reply stays in the conversation),
   retry later (429/5xx/timeouts, with exponential backoff that never undercuts Retry-After),
   failed (permanent errors, shown in the channel's message log), skipped (with why).

Together: each reply is posted once, unless a platform's lookup misses a reply it accepted (its
search lagging by more than the lease, or the reply deleted meanwhile).
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
import smtplib
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import F, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from channels_app.audit.services import record_event
from channels_app.core import mail, textrules
from channels_app.core.hosts import GuardedTransport
from channels_app.core.permissions import require
from channels_app.core.secrets import channel_secret
from channels_app.models import (
    AutoReply,
    Channel,
    ChannelKind,
    Conversation,
    Direction,
    Message,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Phase,
    PhaseKind,
    PlanState,
    ReplyCooldown,
    SendBudget,
    SunsetPlan,
)
from channels_app.plans.selectors import placeholder_values, tracked_redirect_url
from channels_app.platforms.adapters import email as email_adapter
from channels_app.platforms.adapters.base import (
    DEFAULT_TIMEOUT,
    Account,
    ReplyContext,
    ReplyTarget,
    SendError,
    SendResult,
)
from channels_app.platforms.adapters.registry import PLATFORMS, length_unit, platform_for

log = logging.getLogger(__name__)

# Plans whose phases have run (or will) and so speak for a channel past notice.
SPEAKING_PLAN_STATES = [PlanState.RUNNING, PlanState.COMPLETED, PlanState.SCHEDULED]


@dataclass
class SendReport:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    postponed: int = 0
    more_due: bool = False


# --- per-process resources (created after the worker forks) --------------------------------

_resources: dict[str, Any] = {}
_resources_lock = threading.Lock()


def _process_resource(name: str, factory: Callable[[], Any]) -> Any:
    with _resources_lock:
        key = (name, os.getpid())
        if key not in _resources:
            _resources[key] = factory()
        return _resources[key]


def http_client() -> httpx.Client:
    """One pooled, thread-safe client per process; adapters set a timeout on every request."""
    concurrency = settings.DUSK_OUTBOX_CONCURRENCY
    allow_private = settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    return _process_resource(
        # Connections only to allowed hosts, checked when each one is opened (core/hosts.py).
        f"http-{allow_private}",
        lambda: httpx.Client(
            timeout=DEFAULT_TIMEOUT, transport=GuardedTransport(allow_private=allow_private, limits=limits)
        ),
    )


def _pool() -> ThreadPoolExecutor:
    return _process_resource(
        "pool",
        lambda: ThreadPoolExecutor(max_workers=settings.DUSK_OUTBOX_CONCURRENCY, thread_name_prefix="outbox"),
    )


# --- claiming ----------------------------------------------------------------------------


def _due(now: datetime):
    """Pending rows whose time has come, except on channels paced or held off (429) beyond the
    horizon: claiming those would only put them back."""
    horizon = timezone.now() + timedelta(seconds=settings.DUSK_OUTBOX_RATE_HORIZON)
    return (
        OutboxMessage.objects.filter(state=OutboxState.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .exclude(channel_id__in=SendBudget.objects.filter(next_slot_at__gt=horizon).values("channel_id"))
    )


def reclaim_stuck_sends(*, now: datetime | None = None) -> int:
    """Give rows a dead worker left in "sending" back to the queue, in doubt since their claim:
    the worker may have died after the platform accepted the reply."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.DUSK_OUTBOX_STUCK_AFTER)
    with transaction.atomic():
        return OutboxMessage.objects.filter(state=OutboxState.SENDING, claimed_at__lt=stale).update(
            state=OutboxState.PENDING, claimed_by="", in_doubt_since=Coalesce(F("in_doubt_since"), F("claimed_at"))
        )


def _claim(*, now: datetime, limit: int) -> list[OutboxMessage]:
    token = uuid.uuid4().hex
    with transaction.atomic():
        ids = list(_due(now).order_by("id").select_for_update(skip_locked=True).values_list("id", flat=True)[:limit])
        if not ids:
            return []
        OutboxMessage.objects.filter(pk__in=ids, state=OutboxState.PENDING).update(
            state=OutboxState.SENDING, claimed_at=now, claimed_by=token
        )
    return list(
        OutboxMessage.objects.filter(pk__in=ids, claimed_by=token, state=OutboxState.SENDING)
        .select_related("channel", "conversation", "in_reply_to")
        .order_by("id")
    )


# --- what to say ---------------------------------------------------------------------------


@dataclass
class _PlanInfo:
    plan: SunsetPlan
    channel_name: str
    replies: dict[str, dict[str, str]]  # phase kind -> locale -> text
    by_locale: dict[str, dict[str, str]] = field(default_factory=dict)

    def values(self, locale: str) -> dict[str, str]:
        """The placeholder values every customer answered in `locale` shares (the date is
        written in the reply's language)."""
        if locale not in self.by_locale:
            self.by_locale[locale] = placeholder_values(self.plan, locale=locale, channel=self.channel_name)
        return self.by_locale[locale]


def _plan_for(channel: Channel) -> _PlanInfo | None:
    plan = (
        SunsetPlan.objects.filter(plan_channels__channel=channel, state__in=SPEAKING_PLAN_STATES)
        .order_by("-plan_channels__is_open", "-approved_at", "-id")
        .prefetch_related("redirects", Prefetch("phases", queryset=Phase.objects.order_by("instant")))
        .first()
    )
    if plan is None:
        return None
    replies: dict[str, dict[str, str]] = {}
    for kind, locale, text in AutoReply.objects.filter(plan=plan).values_list("phase_kind", "locale", "text"):
        replies.setdefault(kind, {})[locale] = text
    return _PlanInfo(plan=plan, channel_name=channel.name, replies=replies)


def _templates(info: _PlanInfo, row: OutboxMessage) -> tuple[str, dict[str, str]]:
    """(phase kind, locale -> text) for a row; an archived channel falls back to hard close."""
    kinds = [row.phase_kind or PhaseKind.HARD_CLOSE]
    if row.kind == OutboxKind.HANDOFF or kinds[0] == PhaseKind.ARCHIVE:
        kinds.append(PhaseKind.HARD_CLOSE)
    for kind in kinds:
        if info.replies.get(kind):
            return kind, info.replies[kind]
    return kinds[0], {}


def _match_locale(available: Iterable[str], wanted: str | None) -> str | None:
    if not wanted:
        return None
    wanted = wanted.lower()
    by_lower = {locale.lower(): locale for locale in available}
    if wanted in by_lower:
        return by_lower[wanted]
    base = wanted.split("-")[0]
    for lower, locale in sorted(by_lower.items()):
        if lower.split("-")[0] == base:
            return locale
    return None


def choose_locale(available: dict[str, str], *, lang: str | None, text: str, default: str) -> str:
    """The platform's language field, else detection on the text, else the plan's default."""
    if lang:
        found = _match_locale(available, lang)
    else:
        found = _match_locale(available, textrules.detect_language(text, candidates=available))
    return found or _match_locale(available, default) or sorted(available)[0]


_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([,.!?;:])")


def render_reply(template: str, values: dict[str, str], kind: str, *, reference: str = "") -> str:
    """Fill placeholders and fit the platform's length rule; ValueError when it cannot fit.

    A long customer name is the usual reason a validated reply overflows, so the name is
    dropped before giving up. A hand-off notice must carry its reference: appended if the
    text does not say it.
    """
    limit = textrules.LIMITS.get(kind)
    attempts = [values, {**values, "customer_name": ""}]
    length = 0
    for candidate in attempts:
        text = textrules.render(template, candidate)
        if candidate["customer_name"] == "" and values.get("customer_name"):
            text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
        if reference and reference not in text:
            text = f"{text.rstrip()} (ref {reference})"
        text = text.strip()
        length = textrules.length_for(kind, text)
        if limit is None or length <= limit:
            return text
    raise ValueError(
        f"reply is {length} {length_unit(kind)}, {textrules.PLATFORM_LABELS.get(kind, kind)} allows {limit}"
    )


# --- one batch ------------------------------------------------------------------------------


@dataclass
class _Job:
    row: OutboxMessage
    customer: str
    text: str = ""
    target: ReplyTarget = field(default_factory=ReplyTarget)
    slot: float = 0.0  # epoch seconds: not before
    lease_end: float = math.inf  # epoch seconds: the claim may be taken over from then on
    attempted_at: datetime | None = None  # when the request went out


@dataclass
class _Outcome:
    fields: dict[str, Any]
    outbound: Message | None = None
    release_cooldown: bool = False


class _Batch:
    def __init__(self, *, now: datetime, report: SendReport, lease_end: float, token: str) -> None:
        self.now = now
        self.report = report
        self.lease_end = lease_end
        self.token = token  # the claim: rows are written only while it is still theirs
        self.outcomes: dict[int, _Outcome] = {}
        self.plans: dict[int, _PlanInfo | None] = {}
        self.throttled: dict[int, float] = {}  # channel id -> epoch seconds to hold off until

    def plan(self, channel: Channel) -> _PlanInfo | None:
        if channel.pk not in self.plans:
            self.plans[channel.pk] = _plan_for(channel)
        return self.plans[channel.pk]

    def skip(self, row: OutboxMessage, reason: str) -> None:
        self.report.skipped += 1
        self.outcomes[row.pk] = _Outcome({"state": OutboxState.SKIPPED, "last_error": reason, "claimed_by": ""})

    def fail(self, row: OutboxMessage, reason: str) -> None:
        self.report.failed += 1
        self.outcomes[row.pk] = _Outcome(
            {"state": OutboxState.FAILED, "last_error": reason[:2000], "claimed_by": ""}, release_cooldown=True
        )

    def give_back(self, row: OutboxMessage, reason: str) -> None:
        """Not attempted: back to the queue, for a fresh claim a moment later."""
        self.report.postponed += 1
        self.outcomes[row.pk] = _Outcome(
            {
                "state": OutboxState.PENDING,
                "next_attempt_at": self.now + timedelta(seconds=1),
                "last_error": reason,
                "claimed_by": "",
            }
        )

    def postpone(self, row: OutboxMessage, until: datetime, reason: str) -> None:
        self.report.postponed += 1
        self.outcomes[row.pk] = _Outcome(
            {"state": OutboxState.PENDING, "next_attempt_at": until, "last_error": reason, "claimed_by": ""}
        )


def _customer_key(row: OutboxMessage) -> str:
    if row.in_reply_to_id and row.in_reply_to.author_id:
        return row.in_reply_to.author_id
    return row.conversation.customer_id or f"conversation:{row.conversation_id}"


def _loop_reason(row: OutboxMessage) -> str | None:
    own = row.channel.platform_account_id
    message = row.in_reply_to
    if message is not None:
        if message.direction == Direction.OUTBOUND:
            return "loop guard: the message is one of ours"
        if own and message.author_id.lower() == own.lower():
            return "loop guard: the message comes from the channel's own account"
        if row.channel.kind == ChannelKind.EMAIL and not email_adapter.is_customer(
            message.author_id, (own, row.channel.handle)
        ):
            return "loop guard: the message comes from the channel's own address"
        if (message.meta or {}).get("automatic"):
            return f"loop guard: sent by a machine ({message.meta['automatic']})"
        if (message.meta or {}).get("deleted"):
            return f"deleted: {message.meta['deleted']} before the reply was sent"
    return None


def _claim_cooldowns(jobs: list[_Job], batch: _Batch) -> set[int]:
    """Conditional upsert of each customer's cooldown row; returns the outbox ids granted."""
    if not jobs:
        return set()
    window = timedelta(seconds=settings.DUSK_AUTO_REPLY_COOLDOWN)
    # One order for every worker, so two upserts over the same customers cannot deadlock.
    ordered = sorted(jobs, key=lambda j: (j.row.channel_id, j.customer))
    table = connection.ops.quote_name(ReplyCooldown._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s)"] * len(ordered))
    params: list[Any] = []
    for job in ordered:
        params += [job.row.channel_id, job.customer, batch.now, job.row.pk]
    params.append(batch.now - window)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO {table} AS r (channel_id, customer_id, last_reply_at, outbox_id) VALUES {values}
            ON CONFLICT (channel_id, customer_id) DO UPDATE
                SET last_reply_at = EXCLUDED.last_reply_at, outbox_id = EXCLUDED.outbox_id
                WHERE r.last_reply_at <= %s OR r.outbox_id = EXCLUDED.outbox_id
            RETURNING outbox_id
            """,
            params,
        )
        return {row[0] for row in cur.fetchall()}


def _handoff_context(rows: list[OutboxMessage]) -> dict[int, dict[str, Any]]:
    """The latest inbound message of each conversation that gets a hand-off notice, and the
    references of every conversation of that customer the same run moved on that channel
    (one notice per customer and channel lists them all)."""
    notices = [row for row in rows if row.kind == OutboxKind.HANDOFF and row.in_reply_to_id is None]
    if not notices:
        return {}
    ids = [row.conversation_id for row in notices]
    # A message its author deleted cannot be answered: the hand-off answers the latest one left.
    latest = (
        Message.objects.filter(conversation_id=OuterRef("pk"), direction=Direction.INBOUND)
        .exclude(meta__has_key="deleted")
        .order_by("-created_at", "-id")
    )
    found = Conversation.objects.filter(pk__in=ids).annotate(
        last_id=Subquery(latest.values("platform_message_id")[:1]),
        last_lang=Subquery(latest.values("lang")[:1]),
        last_text=Subquery(latest.values("text")[:1]),
        last_meta=Subquery(latest.values("meta")[:1]),
    )
    context = {
        c.pk: {"id": c.last_id, "lang": c.last_lang, "text": c.last_text or "", "meta": c.last_meta or {}}
        for c in found
    }
    run_ids = {row.created_by_run_id for row in notices if row.created_by_run_id}
    if run_ids:
        customers = {(c.channel_id, c.customer_id): c.pk for c in found}
        references: dict[int, list[str]] = {}
        for channel_id, customer_id, reference in (
            Conversation.objects.filter(
                moved_by_run_id__in=run_ids,
                channel_id__in={key[0] for key in customers},
                customer_id__in={key[1] for key in customers},
            )
            .order_by("id")
            .values_list("channel_id", "customer_id", "reference")
        ):
            pk = customers.get((channel_id, customer_id))
            if pk is not None and reference:
                references.setdefault(pk, []).append(reference)
        for pk, refs in references.items():
            context[pk]["references"] = refs
    return context


def _target(row: OutboxMessage, handoff: dict[str, Any]) -> ReplyTarget:
    """Who and what to answer on the platform."""
    conversation = row.conversation
    message = row.in_reply_to
    return platform_for(row.channel.kind).reply_target(
        ReplyContext(
            thread_id=conversation.platform_thread_id,
            reply_to=message.platform_message_id if message is not None else handoff.get("id"),
            author_id=message.author_id if message is not None else "",
            customer_id=conversation.customer_id,
            customer_handle=conversation.customer_handle,
            meta=(message.meta if message is not None else handoff.get("meta")) or {},
            reference=conversation.reference,
            channel_name=row.channel.name,
        )
    )


def _prepare(row: OutboxMessage, batch: _Batch, handoffs: dict[int, dict[str, Any]]) -> _Job | None:
    """Loop guard, plan and target; None when the row is already decided (skipped/failed)."""
    channel = row.channel
    reason = _loop_reason(row)
    if reason:
        batch.skip(row, reason)
        return None
    platform = PLATFORMS.get(channel.kind)
    if platform is None or not platform.sends_replies:
        batch.skip(row, f"Dusk cannot send on {channel.get_kind_display()} channels")
        return None
    info = batch.plan(channel)
    if info is None:
        batch.skip(row, "no sunset plan covers this channel: nothing to say")
        return None
    phase_kind, available = _templates(info, row)
    if not available:
        batch.skip(row, f"the plan has no {phase_kind.replace('_', ' ')} auto-reply")
        return None
    try:
        target = _target(row, handoffs.get(row.conversation_id, {}))
    except ValueError as exc:
        batch.fail(row, str(exc))
        return None
    return _Job(row=row, customer=_customer_key(row), target=target)


def _render(job: _Job, batch: _Batch, handoffs: dict[int, dict[str, Any]]) -> bool:
    row = job.row
    info = batch.plan(row.channel)
    assert info is not None
    _, available = _templates(info, row)
    message = row.in_reply_to
    conversation = row.conversation
    if message is not None:
        lang, text, name = message.lang, message.text, (message.meta or {}).get("name")
    else:
        context = handoffs.get(row.conversation_id, {})
        lang, text, name = conversation.locale or context.get("lang"), context.get("text", ""), None
    locale = choose_locale(available, lang=lang, text=text, default=info.plan.default_locale)
    values = {
        **info.values(locale),
        "customer_name": name or conversation.customer_name or "",
        "reference": conversation.reference,
    }
    if any(t.kind == "url" for t in info.plan.redirects.all()):
        values["redirect_url"] = tracked_redirect_url(conversation.reference)
    reference = conversation.reference if row.kind == OutboxKind.HANDOFF else ""
    if reference and message is None:
        references = handoffs.get(row.conversation_id, {}).get("references") or [reference]
        reference = ", ".join(references)
        values["reference"] = reference
    try:
        job.text = render_reply(
            available[locale], values, job.target.length_rule or row.channel.kind, reference=reference
        )
    except ValueError as exc:
        batch.fail(row, f"{exc} (locale {locale})")
        return False
    return True


def env_secret(name: str) -> str | None:
    """The secret in the environment variable a channel names (None when unnamed, unset, or
    not a channel secret's name: core/secrets.py)."""
    return channel_secret(name)


def _check_credentials(job: _Job, batch: _Batch) -> bool:
    channel = job.row.channel
    platform = platform_for(channel.kind)
    if not platform.needs_api_token:
        return True
    if not env_secret(channel.api_token_env):
        what = f"environment variable {channel.api_token_env} is not set" if channel.api_token_env else "none named"
        batch.fail(job.row, f"no API token for {channel.name}: {what}")
        return False
    if not platform.default_base_url and not channel.api_base_url:
        batch.fail(job.row, f"set {platform.base_url_label} (API base URL) of {channel.name}")
        return False
    return True


def _reserve_slots(channel: Channel, count: int) -> tuple[list[float], float, float]:
    """Up to `count` send slots for the channel within DUSK_OUTBOX_RATE_HORIZON seconds.

    Returns (slots as epoch seconds, the first free instant after them, the interval).
    """
    interval = 60.0 / max(1, channel.rate_limit_per_minute)
    now = timezone.now()
    horizon = now + timedelta(seconds=settings.DUSK_OUTBOX_RATE_HORIZON)
    with transaction.atomic():
        budget, _ = SendBudget.objects.select_for_update().get_or_create(
            channel_id=channel.pk, defaults={"next_slot_at": now}
        )
        start = max(budget.next_slot_at, now)
        fit = 0
        if start <= horizon:
            fit = min(count, math.floor((horizon - start).total_seconds() / interval) + 1)
        if fit:
            SendBudget.objects.filter(pk=channel.pk).update(next_slot_at=start + timedelta(seconds=fit * interval))
    first = start.timestamp()
    return [first + i * interval for i in range(fit)], first + fit * interval, interval


def http_timeout() -> httpx.Timeout:
    seconds = settings.DUSK_OUTBOX_HTTP_TIMEOUT
    return httpx.Timeout(seconds, connect=min(5.0, seconds))


def request_bound() -> float:
    """The longest one platform request may take (connect, write, read: each up to the timeout),
    plus a margin for the platform to show what it accepted to a lookup."""
    return 3 * settings.DUSK_OUTBOX_HTTP_TIMEOUT + settings.DUSK_OUTBOX_LOOKUP_MARGIN


def _find_earlier(job: _Job, account: Account) -> str | None:
    """Our reply from an earlier attempt of this row, looked up on the platform."""
    row = job.row
    channel = row.channel
    assert row.in_doubt_since is not None
    return platform_for(channel.kind).find_reply(
        http_client(),
        account,
        job.target,
        job.text,
        row.in_doubt_since - timedelta(seconds=settings.DUSK_OUTBOX_CLOCK_SKEW),
        timeout=http_timeout(),
    )


def _deliver(job: _Job) -> SendResult | None:
    """Send one reply over HTTP; None when there is too little of the claim left to try."""
    delay = job.slot - time.time()
    if delay > 0:
        time.sleep(delay)
    channel = job.row.channel
    platform = platform_for(channel.kind)
    account = Account(
        base_url=channel.api_base_url or platform.default_base_url,
        token=env_secret(channel.api_token_env) or "",
        account_id=channel.platform_account_id,
    )
    if job.row.in_doubt_since is not None:
        found = _find_earlier(job, account)
        if found:
            return SendResult(platform_id=found, status_code=200, recovered=True)
    # A request that could outlast the claim might still be on its way when the next owner
    # looks the row up: leave it to them.
    if time.time() + request_bound() > job.lease_end:
        return None
    job.attempted_at = timezone.now()
    return platform.send_reply(http_client(), account, job.target, job.text, timeout=http_timeout())


def _send(job: _Job) -> SendResult | None:
    try:
        return _deliver(job)
    except SendError as exc:
        return exc.result
    except Exception as exc:  # a bug or an unexpected library error: retry, bounded by max attempts
        log.exception("outbox %s: unexpected error while sending", job.row.pk, extra={"channel_id": job.row.channel_id})
        # Whether the request went out is unknown: look before the next try.
        return SendResult(platform_id="", status_code=0, error=f"{type(exc).__name__}: {exc}", in_doubt=True)


# --- email: staged, recorded, then terminated (exactly once, see mail.py) -----------------


def _email_message(job: _Job) -> EmailMessage:
    channel = job.row.channel
    target = job.target
    sender = channel.handle if "@" in channel.handle else settings.DEFAULT_FROM_EMAIL
    domain = sender.rsplit("@", 1)[-1].strip(" >") or "dusk.invalid"
    # Stable across retries, so a receiving server can drop a repeat.
    message_id = f"<dusk-reply-{job.row.pk}@{domain}>"
    headers = {"Message-ID": message_id, "Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}
    subject = target.subject
    if target.parent_id:
        headers["In-Reply-To"] = target.parent_id
        chain = [ref for ref in target.references if ref != target.parent_id]
        headers["References"] = " ".join([*chain, target.parent_id])
        subject = email_adapter.reply_subject(subject)
    return EmailMessage(subject=subject, body=job.text, from_email=sender, to=[target.recipient_id], headers=headers)


def _outbound(row: OutboxMessage, platform_id: str, text: str, at: datetime) -> Message:
    return Message(
        channel_id=row.channel_id,
        conversation_id=row.conversation_id,
        platform_message_id=platform_id[:128],
        direction=Direction.OUTBOUND,
        author_id=row.channel.platform_account_id,
        text=text,
        created_at=at,
        meta={"outbox": row.pk, "kind": row.kind},
    )


def _record_emails_sent(jobs: list[_Job], messages: dict[int, EmailMessage], batch: _Batch) -> set[int]:
    """Mark staged emails sent in one commit, only where this claim still owns the row."""
    now = timezone.now()
    recorded: set[int] = set()
    with transaction.atomic():
        for job in jobs:
            row = job.row
            message_id = messages[row.pk].extra_headers["Message-ID"]
            if OutboxMessage.objects.filter(pk=row.pk, state=OutboxState.SENDING, claimed_by=batch.token).update(
                state=OutboxState.SENT,
                sent_at=now,
                platform_response_id=message_id,
                rendered_text=job.text,
                last_error="",
                attempts=F("attempts") + 1,
                claimed_by="",
            ):
                recorded.add(row.pk)
        Message.objects.bulk_create(
            [
                _outbound(job.row, messages[job.row.pk].extra_headers["Message-ID"], job.text, now)
                for job in jobs
                if job.row.pk in recorded
            ],
            ignore_conflicts=True,
        )
    batch.report.sent += len(recorded)
    return recorded


_SMTP_CODE = re.compile(r"\b([45]\d\d)\b")


def _send_emails(jobs: list[_Job], batch: _Batch) -> None:
    by_pk = {job.row.pk: job for job in jobs}
    messages = {job.row.pk: _email_message(job) for job in jobs}
    recorded: set[int] = set()

    def record_sent(keys: list) -> set:
        done = _record_emails_sent([by_pk[k] for k in keys], messages, batch)
        recorded.update(done)
        return done

    def record_refused(key, error: str) -> None:
        match = _SMTP_CODE.search(error)
        code = int(match.group(1)) if match else 0
        result = SendResult(platform_id="", status_code=code, error=error, permanent=code >= 500)
        if key in recorded:  # refused after the end marker: the "sent" just recorded was wrong
            row = by_pk[key].row
            if result.permanent or row.attempts + 1 >= settings.DUSK_OUTBOX_MAX_ATTEMPTS:
                batch.report.failed += 1
                undo = {"state": OutboxState.FAILED, "last_error": error[:2000]}
            else:
                batch.report.retried += 1
                wait = backoff_seconds(row.attempts + 1, None)
                undo = {
                    "state": OutboxState.PENDING,
                    "next_attempt_at": timezone.now() + timedelta(seconds=wait),
                    "last_error": f"attempt {row.attempts + 1} failed, retrying in {wait:.0f} s: {error}"[:2000],
                }
            with transaction.atomic():
                OutboxMessage.objects.filter(pk=key, state=OutboxState.SENT).update(
                    sent_at=None, platform_response_id="", **undo
                )
                Message.objects.filter(channel_id=row.channel_id, meta__outbox=key).delete()
            batch.report.sent -= 1
            return
        _record_result(by_pk[key], result, batch)

    group = max(1, settings.DUSK_EMAIL_PARALLEL)
    for start in range(0, len(jobs), group):
        chunk = jobs[start : start + group]
        delay = max(job.slot for job in chunk) - time.time()
        if delay > 0:
            time.sleep(delay)
        if time.time() + request_bound() > batch.lease_end:
            for job in chunk:
                batch.give_back(job.row, "not attempted: too little of the claim was left")
            continue
        try:
            mail.send_recorded(
                [(job.row.pk, messages[job.row.pk]) for job in chunk],
                record_sent=record_sent,
                record_refused=record_refused,
                group_size=group,
            )
        except (OSError, smtplib.SMTPException) as exc:
            # Whatever was not recorded was not terminated either: the server dropped it.
            failure = email_adapter.smtp_failure(exc).result
            for job in chunk:
                if job.row.pk not in recorded and job.row.pk not in batch.outcomes:
                    _record_result(job, failure, batch)


def backoff_seconds(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter for the attempt that just failed; never below Retry-After."""
    delay = min(settings.DUSK_OUTBOX_BACKOFF_BASE * 2 ** max(attempt - 1, 0), settings.DUSK_OUTBOX_BACKOFF_MAX)
    delay *= random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


def _record_result(job: _Job, result: SendResult | None, batch: _Batch) -> None:
    row = job.row
    if result is None:
        batch.give_back(row, "not attempted: too little of the claim was left")
        return
    attempt = row.attempts + 1
    now = timezone.now()
    if result.platform_id and not result.error:
        batch.report.sent += 1
        batch.outcomes[row.pk] = _Outcome(
            {
                "state": OutboxState.SENT,
                "sent_at": now,
                "platform_response_id": result.platform_id[:128],
                "rendered_text": job.text,
                "last_error": "sent by an earlier attempt (found on the platform)" if result.recovered else "",
                "attempts": attempt,
                "claimed_by": "",
            },
            outbound=_outbound(row, result.platform_id, job.text, now),
        )
        return
    error = result.error or f"HTTP {result.status_code}"
    doubt = {"in_doubt_since": row.in_doubt_since or job.attempted_at or now} if result.in_doubt else {}
    if result.status_code == 429 and result.retry_after:
        until = time.time() + result.retry_after
        batch.throttled[row.channel_id] = max(batch.throttled.get(row.channel_id, 0.0), until)
    if result.permanent:
        batch.fail(row, error)
        batch.outcomes[row.pk].fields.update(attempts=attempt, rendered_text=job.text, **doubt)
        return
    if attempt >= settings.DUSK_OUTBOX_MAX_ATTEMPTS:
        batch.fail(row, f"gave up after {attempt} attempts: {error}")
        batch.outcomes[row.pk].fields.update(attempts=attempt, rendered_text=job.text, **doubt)
        return
    batch.report.retried += 1
    wait = backoff_seconds(attempt, result.retry_after)
    batch.outcomes[row.pk] = _Outcome(
        {
            "state": OutboxState.PENDING,
            "attempts": attempt,
            "next_attempt_at": now + timedelta(seconds=wait),
            "last_error": f"attempt {attempt} failed, retrying in {wait:.0f} s: {error}"[:2000],
            "rendered_text": job.text,
            "claimed_by": "",
            **doubt,
        }
    )


def _write_outcomes(batch: _Batch) -> None:
    # Rows with the same set of changed columns share one statement, sent with executemany
    # (psycopg pipelines it: one round trip for the batch). Per-row UPDATEs cost a round trip
    # each, and bulk_update's CASE per row and column took longer to build in Python than the
    # sends themselves (12 s against 2 s for the 2,776-row corpus replay).
    shapes: dict[tuple[str, ...], list[list[Any]]] = {}
    for pk, outcome in batch.outcomes.items():
        names = tuple(sorted(outcome.fields))
        shapes.setdefault(names, []).append([outcome.fields[name] for name in names] + [pk])
    meta = OutboxMessage._meta
    quote = connection.ops.quote_name
    # Only rows this claim still owns: after the lease, another sender may have taken one over.
    with transaction.atomic():
        with connection.cursor() as cur:
            for names, params in shapes.items():
                sets = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in names)
                cur.executemany(
                    f"UPDATE {quote(meta.db_table)} SET {sets} WHERE id = %s AND claimed_by = %s AND state = %s",
                    [[*values, batch.token, OutboxState.SENDING] for values in params],
                )
        outbound = [o.outbound for o in batch.outcomes.values() if o.outbound is not None]
        if outbound:
            Message.objects.bulk_create(outbound, ignore_conflicts=True)
        released = [pk for pk, o in batch.outcomes.items() if o.release_cooldown]
        if released:
            ReplyCooldown.objects.filter(outbox_id__in=released).delete()
        for channel_id, until in batch.throttled.items():
            hold = datetime.fromtimestamp(until, tz=UTC)
            SendBudget.objects.filter(pk=channel_id, next_slot_at__lt=hold).update(next_slot_at=hold)


def _process(rows: list[OutboxMessage], *, now: datetime, report: SendReport, lease_end: float = math.inf) -> None:
    batch = _Batch(now=now, report=report, lease_end=lease_end, token=rows[0].claimed_by)
    handoffs = _handoff_context(rows)
    # Hand-off notices first: they carry a reference and go out whatever the cooldown says.
    ordered = sorted(rows, key=lambda r: (r.kind != OutboxKind.HANDOFF, r.pk))
    jobs = [job for job in (_prepare(row, batch, handoffs) for row in ordered) if job is not None]

    # Cooldown: the first row per customer in this batch competes for the customer's slot.
    first: dict[tuple[int, str], _Job] = {}
    for job in jobs:
        first.setdefault((job.row.channel_id, job.customer), job)
    granted = _claim_cooldowns(list(first.values()), batch)
    window = settings.DUSK_AUTO_REPLY_COOLDOWN
    allowed: list[_Job] = []
    for job in jobs:
        row = job.row
        if row.kind == OutboxKind.HANDOFF or row.requeued_at is not None:
            allowed.append(job)
        elif first[(row.channel_id, job.customer)] is not job:
            other = first[(row.channel_id, job.customer)].row.pk
            batch.skip(row, f"cooldown: reply #{other} to the same customer goes out in this batch")
        elif row.pk not in granted:
            batch.skip(row, f"cooldown: this customer was answered on this channel in the last {window:g} s")
        else:
            allowed.append(job)

    ready = [job for job in allowed if _render(job, batch, handoffs) and _check_credentials(job, batch)]

    # Pace each channel; what does not fit in the horizon waits for its slot, unchanged.
    sending: list[_Job] = []
    by_channel: dict[int, list[_Job]] = {}
    for job in ready:
        by_channel.setdefault(job.row.channel_id, []).append(job)
    for channel_jobs in by_channel.values():
        channel = channel_jobs[0].row.channel
        slots, next_free, interval = _reserve_slots(channel, len(channel_jobs))
        for job, slot in zip(channel_jobs, slots, strict=False):
            job.slot = slot
            job.lease_end = batch.lease_end
            sending.append(job)
        for offset, job in enumerate(channel_jobs[len(slots) :]):
            until = datetime.fromtimestamp(next_free + offset * interval, tz=UTC)
            batch.postpone(job.row, until, f"rate limit: {channel.rate_limit_per_minute}/min on {channel.name}")

    by_mail = [job for job in sending if platform_for(job.row.channel.kind).sends_mail]
    over_http = [job for job in sending if not platform_for(job.row.channel.kind).sends_mail]
    results = _pool().map(_send, over_http)  # under way in the pool while emails go out here
    _send_emails(by_mail, batch)
    for job, result in zip(over_http, results, strict=True):
        _record_result(job, result, batch)
    _write_outcomes(batch)


def send_due_replies(
    *, worker_id: str = "", now: datetime | None = None, batch_size: int | None = None, time_budget: float | None = None
) -> SendReport:
    """Send what is due, batch after batch, until nothing is due or the time budget is spent.

    `now` fixes the clock for due times and cooldowns (tests); pacing always uses the real clock.
    """
    report = SendReport()
    batch_size = batch_size or settings.DUSK_OUTBOX_BATCH
    deadline = time.monotonic() + (time_budget if time_budget is not None else settings.DUSK_OUTBOX_TIME_BUDGET)
    reclaim_stuck_sends(now=now)
    while True:
        clock = now or timezone.now()
        # The lease counts from before the claim: others may take the rows over from then on.
        lease_end = time.time() + settings.DUSK_OUTBOX_STUCK_AFTER
        rows = _claim(now=clock, limit=batch_size)
        if not rows:
            break
        report.claimed += len(rows)
        _process(rows, now=clock, report=report, lease_end=lease_end)
        if time.monotonic() >= deadline:
            report.more_due = _due(now or timezone.now()).exists()
            break
    if report.claimed:
        log.info("outbox%s: %s", f" ({worker_id})" if worker_id else "", report)
    return report


# --- portal actions -----------------------------------------------------------------------


@transaction.atomic
def retry_failed_replies(*, actor, channel: Channel | int, outbox_ids: Iterable[int] | None = None) -> int:
    """Queue a channel's failed replies again (after fixing a token, say)."""
    require(actor, "manage_channels")
    channel = Channel.objects.get(pk=channel.pk if isinstance(channel, Channel) else channel)
    failed = OutboxMessage.objects.filter(channel=channel, state=OutboxState.FAILED)
    if outbox_ids is not None:
        failed = failed.filter(pk__in=list(outbox_ids))
    count = failed.update(
        state=OutboxState.PENDING, attempts=0, next_attempt_at=None, claimed_by="", requeued_at=timezone.now()
    )
    record_event(actor=actor, action="outbox.retried", obj=channel, after={"requeued": count})
    return count
