"""Append events to the hash-chained audit trail."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from channels_app.models import AuditChainHead, AuditEvent


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
) -> AuditEvent:
    """Append one event. Must run inside the transaction of the change it
    records, so the event exists exactly when the change does."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_event must be called inside transaction.atomic()")
    AuditChainHead.objects.get_or_create(pk=1)
    # Locking the head row serialises appends across processes.
    head = AuditChainHead.objects.select_for_update().get(pk=1)
    event = AuditEvent(
        at=timezone.now(),
        actor=actor,
        actor_label=actor_label or actor_label_for(actor),
        action=action,
        object_type=type(obj)._meta.model_name if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        before=before,
        after=after,
        prev_hash=head.last_hash,
    )
    event.hash = event.compute_hash()
    event.save(force_insert=True)
    AuditChainHead.objects.filter(pk=1).update(last_hash=event.hash, count=head.count + 1)
    return event


def verify_chain() -> list[str]:
    """Return a list of problems; empty means the chain is intact."""
    problems: list[str] = []
    prev = "0" * 64
    count = 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        count += 1
        if event.prev_hash != prev:
            problems.append(
                f"event {event.pk}: previous hash does not match (an event before it was removed or changed)"
            )
        if event.compute_hash() != event.hash:
            problems.append(f"event {event.pk}: contents do not match its hash (edited)")
        prev = event.hash
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and (head.last_hash != prev or head.count != count):
        problems.append(
            f"chain head expects {head.count} events ending in {head.last_hash[:12]}, found {count} ending in {prev[:12]}"
            " (events were removed from the end)"
        )
    return problems
