"""Handing contact requests off to the systems behind a plan's redirect targets (Zendesk,
Freshdesk, Chatwoot, a signed webhook), in the outbox style: a delivery row per request and destination, claimed by a sender,
retried with backoff (and no sooner than a Retry-After), looked up before any resend when an
attempt got no answer, and listed as failed for a person to re-queue once the attempts run out."""

import logging
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.audit.services import record_event
from channels_app.core.hosts import GuardedTransport, HostRefused, check_url
from channels_app.core.logs import redact
from channels_app.core.permissions import require
from channels_app.core.queue import SEND_HANDOFFS, kick_on_commit
from channels_app.core.secrets import channel_secret, is_channel_secret_name
from channels_app.handoff.adapters import DestinationError, Handoff, chatwoot, registry
from channels_app.models import (
    ArrivalStatus,
    Conversation,
    DestinationKind,
    HandoffArrival,
    HandoffDelivery,
    HandoffDeliveryState,
    HandoffDestination,
    HandoffRequest,
    RedirectTarget,
    SunsetPlan,
)

log = logging.getLogger(__name__)
BATCH = 50


# --- destinations ---------------------------------------------------------------------------


def set_handoff_destination(
    *, actor, plan: SunsetPlan, position: int, kind: str, url: str, credential_env: str, arrival_secret_env: str = ""
) -> HandoffDestination:
    """Hand the plan's contact requests off to the system behind its target at `position`."""
    require(actor, "draft_plan")
    url = url.strip()
    errors: dict[str, list[str]] = {}
    if not RedirectTarget.objects.filter(plan=plan, position=position).exists():
        errors.setdefault("position", []).append(_("This plan has no such redirect target."))
    if kind not in DestinationKind.values:
        errors.setdefault("kind", []).append(_("Choose Zendesk, Freshdesk, Chatwoot or a signed webhook."))
    try:
        check_url(url, allow_private=settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS)
    except HostRefused as exc:
        errors.setdefault("url", []).append(str(exc))
    else:
        if kind == DestinationKind.CHATWOOT and not chatwoot.TARGET.match(url):
            errors.setdefault("url", []).append(
                _("A Chatwoot URL names the account and the inbox: https://<host>/api/v1/accounts/<id>/inboxes/<id>.")
            )
    if not is_channel_secret_name(credential_env):
        errors.setdefault("credential_env", []).append(
            _("Name an environment variable that starts with DUSK_CHANNEL_, in capitals, digits and underscores.")
        )
    if arrival_secret_env and not is_channel_secret_name(arrival_secret_env):
        errors.setdefault("arrival_secret_env", []).append(
            _("Name an environment variable that starts with DUSK_CHANNEL_, in capitals, digits and underscores.")
        )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        destination, created = HandoffDestination.objects.update_or_create(
            plan=plan,
            position=position,
            defaults={
                "kind": kind,
                "url": url,
                "credential_env": credential_env,
                "arrival_secret_env": arrival_secret_env,
            },
        )
        record_event(
            actor=actor,
            action="plan.handoff_destination_set",
            obj=plan,
            after={
                "position": position,
                "kind": kind,
                "url": url,
                "credential_env": credential_env,
                "arrival_secret_env": arrival_secret_env,
            },
        )
    return destination


def remove_handoff_destination(*, actor, destination: HandoffDestination) -> None:
    require(actor, "draft_plan")
    with transaction.atomic():
        if destination.deliveries.exists():
            raise ValidationError(_("Requests were already handed off here; the destination stays on record."))
        record_event(
            actor=actor,
            action="plan.handoff_destination_removed",
            obj=destination.plan,
            before={"position": destination.position, "kind": destination.kind, "url": destination.url},
        )
        destination.delete()


def queue_handoff_deliveries(*, request: HandoffRequest) -> int:
    """One delivery per destination of the request's plan, sent after the commit."""
    destinations = list(HandoffDestination.objects.filter(plan_id=request.plan_id).values_list("pk", flat=True))
    HandoffDelivery.objects.bulk_create(
        [HandoffDelivery(request=request, destination_id=pk) for pk in destinations], ignore_conflicts=True
    )
    if destinations:
        kick_on_commit(SEND_HANDOFFS)
    return len(destinations)


# --- sending --------------------------------------------------------------------------------


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    seconds = min(settings.DUSK_HANDOFF_BACKOFF_BASE * 2 ** max(attempts - 1, 0), settings.DUSK_HANDOFF_BACKOFF_MAX)
    if retry_after is not None:
        seconds = max(seconds, min(retry_after, settings.DUSK_HANDOFF_BACKOFF_MAX))
    return timedelta(seconds=seconds)


def _claim(now: datetime) -> list[HandoffDelivery]:
    """Due pending rows, and rows a silent sender claimed too long ago (those are in doubt)."""
    stale = now - timedelta(seconds=settings.DUSK_HANDOFF_STUCK_AFTER)
    due = HandoffDelivery.objects.filter(
        Q(state=HandoffDeliveryState.PENDING, next_attempt_at__isnull=True)
        | Q(state=HandoffDeliveryState.PENDING, next_attempt_at__lte=now)
        | Q(state=HandoffDeliveryState.SENDING, claimed_at__lt=stale)
    )
    with transaction.atomic():
        rows = list(due.select_for_update(skip_locked=True).order_by("id").values_list("id", "state")[:BATCH])
        ids = [pk for pk, _state in rows]
        stuck = [pk for pk, state in rows if state == HandoffDeliveryState.SENDING]
        HandoffDelivery.objects.filter(pk__in=stuck).update(in_doubt=True)
        HandoffDelivery.objects.filter(pk__in=ids).update(
            state=HandoffDeliveryState.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    return list(
        HandoffDelivery.objects.filter(pk__in=ids, state=HandoffDeliveryState.SENDING, claimed_at=now)
        .select_related("destination", "request__conversation__channel")
        .order_by("id")
    )


def _mine(delivery: HandoffDelivery, now: datetime):
    return HandoffDelivery.objects.filter(pk=delivery.pk, state=HandoffDeliveryState.SENDING, claimed_at=now)


def _sent(delivery: HandoffDelivery, remote_id: str, now: datetime) -> int:
    return _mine(delivery, now).update(
        state=HandoffDeliveryState.SENT, remote_id=remote_id[:64], sent_at=timezone.now(), last_error="", in_doubt=False
    )


def _failed(delivery: HandoffDelivery, error: DestinationError, now: datetime) -> None:
    message = redact(str(error))[:500]
    if error.retry and delivery.attempts < settings.DUSK_HANDOFF_ATTEMPTS:
        doubt = {"in_doubt": True} if error.in_doubt else {}
        _mine(delivery, now).update(
            state=HandoffDeliveryState.PENDING,
            next_attempt_at=now + _backoff(delivery.attempts, error.retry_after),
            last_error=message,
            **doubt,
        )
        return
    with transaction.atomic():
        doubt = {"in_doubt": True} if error.in_doubt else {}
        if _mine(delivery, now).update(state=HandoffDeliveryState.FAILED, last_error=message, **doubt):
            record_event(
                actor=None,
                actor_label="system:handoff",
                action="handoff.delivery_failed",
                obj=delivery.request,
                after={"destination": delivery.destination.kind, "attempts": delivery.attempts, "error": message},
            )


def _handoff(delivery: HandoffDelivery) -> Handoff:
    request = delivery.request
    return Handoff(
        delivery_id=f"dusk-handoff-{delivery.pk}",
        reference=request.conversation.reference,
        platform=request.conversation.channel.get_kind_display(),
        name=request.name,
        email=request.email,
        message=request.message,
        transcript=request.transcript,
    )


def _deliver(client: httpx.Client, delivery: HandoffDelivery, now: datetime) -> int:
    destination = delivery.destination
    adapter = registry()[destination.kind]
    credential = channel_secret(destination.credential_env)
    try:
        if credential is None:
            raise DestinationError(f"{destination.credential_env} is not set", retry=True)
        check_url(destination.url, allow_private=settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS)
        handoff = _handoff(delivery)
        if delivery.in_doubt:
            # The last attempt may have arrived: ask before sending it again.
            found = adapter.find(client, destination.url, credential, handoff)
            if found:
                return _sent(delivery, found, now)
        return _sent(delivery, adapter.send(client, destination.url, credential, handoff), now)
    except HostRefused as exc:
        _failed(delivery, DestinationError(str(exc), retry=False), now)
    except DestinationError as exc:
        log.warning("hand-off %s to %s: %s (attempt %s)", delivery.pk, destination.kind, exc, delivery.attempts)
        _failed(delivery, exc, now)
    return 0


def send_due_handoffs(*, now: datetime | None = None) -> int:
    """Send every hand-off that is due; returns how many were delivered."""
    now = now or timezone.now()
    sent = 0
    transport = GuardedTransport(allow_private=settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS)
    with httpx.Client(transport=transport, timeout=settings.DUSK_HANDOFF_TIMEOUT) as client:
        while deliveries := _claim(now):
            for delivery in deliveries:
                sent += _deliver(client, delivery, now)
    return sent


def requeue_handoff_delivery(*, actor, delivery: HandoffDelivery) -> None:
    """A person sends a failed hand-off again (after fixing the destination): attempts start over,
    and it is looked up first when the last attempt went unanswered."""
    require(actor, "manage_channels")
    with transaction.atomic():
        if not HandoffDelivery.objects.filter(pk=delivery.pk, state=HandoffDeliveryState.FAILED).update(
            state=HandoffDeliveryState.PENDING, attempts=0, next_attempt_at=None, claimed_at=None
        ):
            raise ValidationError(_("Only a failed hand-off can be sent again."))
        record_event(
            actor=actor,
            action="handoff.delivery_requeued",
            obj=delivery.request,
            after={"delivery": delivery.pk, "destination": delivery.destination.kind},
        )
    kick_on_commit(SEND_HANDOFFS)


# --- arrivals -------------------------------------------------------------------------------


def record_arrival(
    *, destination: HandoffDestination, reference: str, status: str, now: datetime | None = None
) -> bool:
    """A destination (already authenticated by its signature) reports that the customer behind
    `reference` arrived or was solved. The reference must belong to the destination's plan's
    channels. Returns whether it was new (a repeated report changes nothing)."""
    now = now or timezone.now()
    if status not in ArrivalStatus.values:
        raise ValidationError(_("status must be “arrived” or “solved”."))
    conversation = Conversation.objects.filter(
        reference=reference, channel__plan_channels__plan_id=destination.plan_id
    ).first()
    if conversation is None:
        raise Conversation.DoesNotExist
    try:
        with transaction.atomic():
            HandoffArrival.objects.create(destination=destination, conversation=conversation, status=status, at=now)
    except IntegrityError:  # reported before (arrival_once)
        return False
    return True
