"""Append events to the keyed hash chain of the audit trail.

Each event's `hash` is HMAC-SHA256, with the current DUSK_AUDIT_KEYS key, of its contents and
the previous event's hash; the event stores the key's id. Someone with database access alone
can edit an event but cannot compute the HMAC of the edit, nor of the events after it, nor
the chain head's MAC (so truncation shows too). Events written before the chain was keyed
keep their plain SHA-256 and still verify; the first keyed event after them covers the last
one's hash, and no unkeyed event may follow a keyed one.
"""

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from channels_app.core import audit_keys
from channels_app.models import AuditChainHead, AuditEvent

logger = logging.getLogger("dusk.security")


def actor_label_for(user) -> str:
    if user is None:
        return "system"
    return user.get_username()


def record_event(
    *,
    actor,
    action: str,
    obj,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor_label: str | None = None,
    agent=None,
) -> AuditEvent:
    """Append one event. Must run inside the transaction of the change it
    records, so the event exists exactly when the change does. `agent` (with `actor` None) is an
    affected agent acting on their own page: the actor kind "agent", labelled "agent:<employee id>"."""
    if agent is not None:
        if actor is not None:
            raise ValueError("an event has one actor: a user or an agent")
        actor_label = f"agent:{agent.employee_id}"
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_event must be called inside transaction.atomic()")
    AuditChainHead.objects.get_or_create(pk=1)
    # Locking the head row serialises appends across processes.
    head = AuditChainHead.objects.select_for_update().get(pk=1)
    event = AuditEvent(
        at=timezone.now(),
        actor=actor,
        actor_agent=agent,
        actor_label=actor_label or actor_label_for(actor),
        action=action,
        object_type=type(obj)._meta.model_name if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        before=before,
        after=after,
        prev_hash=head.last_hash,
    )
    kid, secret = audit_keys.current_key()
    event.key_id = kid
    event.hash = audit_keys.sign(secret, event.payload())
    event.save(force_insert=True)
    head.last_hash, head.count = event.hash, head.count + 1
    head.key_id, head.mac = kid, audit_keys.sign(secret, head.payload())
    head.save(update_fields=["last_hash", "count", "key_id", "mac"])
    return event


def seal_chain_head() -> None:
    """Sign the chain head with the current key (the trail as it stands is trusted)."""
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            return
        head.key_id, secret = audit_keys.current_key()
        head.mac = audit_keys.sign(secret, head.payload())
        head.save(update_fields=["key_id", "mac"])


def _event_problem(event: AuditEvent, keyed_before: bool) -> str | None:
    if not event.key_id:
        if keyed_before:
            return f"event {event.pk}: has no key id after keyed events (rewritten without the key)"
        if not audit_keys.same(event.compute_hash(), event.hash):
            return f"event {event.pk}: contents do not match its hash (edited)"
        return None
    secret = audit_keys.key_for(event.key_id)
    if secret is None:
        return f"event {event.pk}: signed with key {event.key_id!r}, which DUSK_AUDIT_KEYS does not hold"
    if not audit_keys.same(audit_keys.sign(secret, event.payload()), event.hash):
        return f"event {event.pk}: contents do not match its hash (edited)"
    return None


def verify_chain() -> list[str]:
    """Return a list of problems; empty means the chain is intact."""
    problems: list[str] = []
    prev = "0" * 64
    count = 0
    keyed = False
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        count += 1
        if event.prev_hash != prev:
            problems.append(
                f"event {event.pk}: previous hash does not match (an event before it was removed or changed)"
            )
        problem = _event_problem(event, keyed)
        if problem:
            problems.append(problem)
        keyed = keyed or bool(event.key_id)
        prev = event.hash
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None:
        if count:
            problems.append("the chain head is missing")
        return problems
    if head.last_hash != prev or head.count != count:
        problems.append(
            f"chain head expects {head.count} events ending in {head.last_hash[:12]}, found {count} ending in {prev[:12]}"
            " (events were removed from the end)"
        )
    secret = audit_keys.key_for(head.key_id) if head.key_id else None
    if head.key_id and secret is None:
        problems.append(f"chain head: signed with key {head.key_id!r}, which DUSK_AUDIT_KEYS does not hold")
    elif secret is None:
        if count:
            problems.append("chain head: not signed (rewritten without the key)")
    elif not audit_keys.same(audit_keys.sign(secret, head.payload()), head.mac):
        problems.append("chain head: its MAC does not match (rewritten without the key)")
    return problems


# --- security events ----------------------------------------------------------------------------

SECURITY_KINDS = (
    "forbidden_write",  # 403 to a POST/PUT/PATCH/DELETE
    "login_failed",
    "lockout",
    "webhook_refused",
    "token_rejected",
)
_COUNTER_PREFIX = "dusk:security-events"


def _count(key: str, window: int) -> int:
    """Add one to a counter that lives for two windows (so the next window can read it)."""
    cache.add(key, 0, timeout=window * 2)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window * 2)
        return 1


def record_security_event(*, kind: str, source: str | None, detail: dict[str, Any], actor=None) -> bool:
    """Record a refusal as an audit event `security.<kind>`, unless this kind of refusal from
    this source, or from all sources, already filled its quota of the current window
    (DUSK_SECURITY_EVENT_WINDOW): then it is only counted, and the next event of that kind that
    is recorded says how many were not (`not_recorded_since_last`). A flood thus writes a
    bounded number of rows. Returns whether an event was written."""
    if kind not in SECURITY_KINDS:
        raise ValueError(f"unknown security event kind {kind!r}")
    window = max(int(settings.DUSK_SECURITY_EVENT_WINDOW), 1)
    slot = int(time.time()) // window
    source = (source or "unknown")[:64]
    dropped_key = f"{_COUNTER_PREFIX}:{kind}:dropped"
    seen_here = _count(f"{_COUNTER_PREFIX}:{kind}:{source}:{slot}", window)
    # The quota of the kind counts what passed each source's quota, so one noisy source does not
    # silence the others.
    seen_kind = (
        _count(f"{_COUNTER_PREFIX}:{kind}:*:{slot}", window)
        if seen_here <= settings.DUSK_SECURITY_EVENTS_PER_SOURCE
        else 0
    )
    if seen_here > settings.DUSK_SECURITY_EVENTS_PER_SOURCE or seen_kind > settings.DUSK_SECURITY_EVENTS_PER_KIND:
        _count(dropped_key, window * 1000)
        if seen_here == settings.DUSK_SECURITY_EVENTS_PER_SOURCE + 1:
            logger.warning("security events %s from %s: over the quota, counted only", kind, source)
        return False
    after: dict[str, Any] = {"kind": kind, "source": source, **detail}
    dropped = cache.get(dropped_key) or 0
    if dropped:
        cache.decr(dropped_key, dropped)
        after["not_recorded_since_last"] = dropped
    if seen_here == settings.DUSK_SECURITY_EVENTS_PER_SOURCE:
        after["further_counted_only"] = True
    authenticated = getattr(actor, "is_authenticated", False)
    with transaction.atomic():
        record_event(
            actor=actor if authenticated else None,
            actor_label=None if authenticated else "anonymous",
            action=f"security.{kind}",
            obj=None,
            after=after,
        )
    return True
