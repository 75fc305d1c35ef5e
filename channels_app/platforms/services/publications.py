"""Publishing the public notice: each change a run makes on a platform, exactly once.

A run writes one `Publication` per change (`queue_publications`, from
`selectors.planned_public_changes`), then `publish_pending` makes them in order, one at a time,
like the outbox sends a reply:

1. **capture**: what the change will replace is read from the platform and committed before
   anything changes (`before`), once: a retry never captures its own earlier change;
2. **look before retrying**: a publication with an attempt behind it (its worker killed
   mid-call, a timeout, a 5xx) is first looked up on the platform (the topic by its
   external_id, the post by its text on the brand's timeline, the greeting or description by
   equality) and recorded, not made again, when found;
3. **attempt**: the attempt is counted and committed before the request leaves, then made;
4. **record** the platform's answer: published (with its id), retried after the platform's
   Retry-After (waited out in place up to DUSK_PUBLICATION_MAX_WAIT, DUSK_PUBLICATION_MAX_ATTEMPTS
   tries), or failed with the platform's message. A failure stops that channel: its changes
   made earlier in the run are undone (their earlier state put back, `publication.undone`) and
   its later ones are not made, all failed with why, so nothing is left half-applied on that
   platform; other channels go on. Retried from the run page, the channel's changes are made
   again in order, each first looked up on its platform.

`restore_publications` (rollback, after its transaction committed) puts back what each published
change replaced, in reverse order, each answer recorded on its own; `retry_restores` asks again for
the changes a platform refused to restore. Every change, every undo and every refused undo is an
audit event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.audit.services import record_event
from channels_app.core.errors import InvalidTransition
from channels_app.core.permissions import require
from channels_app.core.secrets import channel_secret
from channels_app.models import Channel, CutoverRun, Publication, PublicationState
from channels_app.platforms.adapters.base import Account, PermanentSendError, PublicChange, SendError
from channels_app.platforms.adapters.registry import platform_for
from channels_app.platforms.selectors import TOPIC_ACTIONS, planned_public_changes
from channels_app.platforms.services.outbox import backoff_seconds, http_client, http_timeout

log = logging.getLogger(__name__)

# Called inside the transaction of every write, to prove the caller still owns the run (the
# engine's heartbeat on its lease); raises to stop.
Beat = Callable[[], None]


def _no_beat() -> None:
    return None


@dataclass
class PublishReport:
    total: int = 0
    published: int = 0
    recovered: int = 0
    failed: int = 0
    waiting: int = 0  # not made: behind a refused change of the same channel
    undone: int = 0  # made, then undone when a later change of the same channel was refused


def publication_key(run_id: int, channel_id: int, action: str, target: str) -> str:
    """The change's own key, also the Discourse topic's external_id (50 characters at most)."""
    return f"dusk-{run_id}-{channel_id}-{action}-{target}"[:50]


@transaction.atomic
def queue_publications(*, run: CutoverRun, channel_ids: list[int]) -> int:
    """Write the run's publications (again: nothing is written twice); returns how many it has.
    A change that cannot be made (no forum category set...) is written failed, with why; a change
    to an announcement topic the notice never published is not written (there is nothing to
    change)."""
    channels = list(Channel.objects.filter(pk__in=channel_ids))
    planned = [
        p
        for p in planned_public_changes(run.plan, run.phase.kind, channels)
        if p.target or p.action not in TOPIC_ACTIONS
    ]
    rows = [
        Publication(
            run=run,
            channel_id=p.channel_id,
            phase_kind=run.phase.kind,
            action=p.action,
            target=p.target,
            key=publication_key(run.pk, p.channel_id, p.action, p.target),
            position=position,
            change=p.change,
            state=PublicationState.FAILED if p.problem else PublicationState.PENDING,
            error=p.problem,
        )
        for position, p in enumerate(planned)
    ]
    Publication.objects.bulk_create(rows, ignore_conflicts=True)
    return Publication.objects.filter(run=run).count()


def _account(channel: Channel) -> Account:
    platform = platform_for(channel.kind)
    return Account(
        base_url=channel.api_base_url or platform.default_base_url,
        token=channel_secret(channel.api_token_env) or "",
        account_id=channel.platform_account_id,
    )


def _change(publication: Publication) -> PublicChange:
    change = publication.change or {}
    since = publication.attempted_at
    # A change retried after a refusal publishes under its next generation's key: the forum keeps
    # a deleted topic's external_id.
    generation = int(change.get("generation") or 0)
    return PublicChange(
        action=publication.action,
        key=f"{publication.key}-{generation}" if generation else publication.key,
        text=change.get("text") or "",
        title=change.get("title") or "",
        texts=dict(change.get("texts") or {}),
        links=tuple((str(q), str(p)) for q, p in change.get("links") or []),
        target=publication.target,
        language=str(change.get("language") or ""),
        since=since - timedelta(seconds=settings.DUSK_OUTBOX_CLOCK_SKEW) if since else None,
    )


def _audit_published(publication: Publication, *, recovered: bool) -> None:
    record_event(
        actor=None,
        actor_label="system:cutover",
        action="publication.published",
        obj=publication.run,
        before={"channel": publication.channel_id, "action": publication.action, "state": publication.before},
        after={
            "channel": publication.channel_id,
            "action": publication.action,
            "target": publication.target,
            "platform_id": publication.platform_id,
            "key": publication.key,
            "recovered": recovered,
        },
    )


def _record(publication: Publication, beat: Beat, *, recovered: bool = False, **fields: Any) -> None:
    """Write the publication's new fields with the caller's heartbeat, and audit an outcome."""
    with transaction.atomic():
        beat()
        Publication.objects.filter(pk=publication.pk).update(**fields)
        for name, value in fields.items():
            if not hasattr(value, "resolve_expression"):
                setattr(publication, name, value)
        if fields.get("state") == PublicationState.PUBLISHED:
            _audit_published(publication, recovered=recovered)
        elif fields.get("state") == PublicationState.FAILED:
            record_event(
                actor=None,
                actor_label="system:cutover",
                action="publication.failed",
                obj=publication.run,
                after={"channel": publication.channel_id, "action": publication.action, "error": publication.error},
            )


def _publish_one(publication: Publication, beat: Beat) -> str:
    """Make one change; returns its final state this pass ("published", "recovered", "failed")."""
    channel = publication.channel
    platform = platform_for(channel.kind)
    account = _account(channel)
    client = http_client()
    tries = 0  # this pass's; `attempts` counts every pass's, for the look-up in doubt
    refusals = 0  # retryable errors this pass (of the capture, the look-up or the change)
    while True:
        try:
            if publication.before is None:
                before = platform.read_public_state(client, account, _change(publication), timeout=http_timeout())
                _record(publication, beat, before=before)
            if publication.attempts:
                found = platform.find_publication(
                    client, account, _change(publication), publication.before or {}, timeout=http_timeout()
                )
                if found:
                    _record_published(publication, beat, found, recovered=True)
                    return "recovered"
            if tries >= settings.DUSK_PUBLICATION_MAX_ATTEMPTS:
                raise PermanentSendError(f"gave up after {tries} tries: {publication.error}")
            tries += 1
            now = timezone.now()
            _record(
                publication,
                beat,
                state=PublicationState.PUBLISHING,
                attempts=F("attempts") + 1,
                attempted_at=Coalesce(F("attempted_at"), now),
            )
            publication.refresh_from_db(fields=["attempts", "attempted_at"])
            done = platform.publish(
                client, account, _change(publication), publication.before or {}, timeout=http_timeout()
            )
            if settings.DUSK_PUBLICATION_PAUSE:
                time.sleep(settings.DUSK_PUBLICATION_PAUSE)  # test hook: a worker killed here is in doubt
            _record_published(publication, beat, done.platform_id, recovered=done.recovered)
            return "recovered" if done.recovered else "published"
        except PermanentSendError as exc:
            _record(
                publication, beat, state=PublicationState.FAILED, error=exc.error[:1000], status_code=exc.status_code
            )
            return "failed"
        except SendError as exc:
            refusals += 1
            wait = backoff_seconds(refusals, exc.retry_after)
            if wait > settings.DUSK_PUBLICATION_MAX_WAIT or refusals >= settings.DUSK_PUBLICATION_MAX_ATTEMPTS:
                _record(
                    publication,
                    beat,
                    state=PublicationState.FAILED,
                    error=f"{exc.error} (not retried: wait {wait:.0f} s, try {refusals})"[:1000],
                    status_code=exc.status_code,
                )
                return "failed"
            _record(publication, beat, error=exc.error[:1000], status_code=exc.status_code)
            log.info("publication %s: retrying in %.1f s: %s", publication.pk, wait, exc.error)
            time.sleep(wait)


def _record_published(publication: Publication, beat: Beat, platform_id: str, *, recovered: bool) -> None:
    _record(
        publication,
        beat,
        state=PublicationState.PUBLISHED,
        platform_id=platform_id[:200],
        published_at=timezone.now(),
        error="",
        status_code=0,
        recovered=recovered,
    )


def publish_pending(*, run_id: int, beat: Beat = _no_beat) -> PublishReport:
    """Make the run's pending publications in order (see the module's docstring)."""
    report = PublishReport()
    rows = list(Publication.objects.filter(run_id=run_id).select_related("channel", "run").order_by("position", "id"))
    report.total = len(rows)
    stopped: set[int] = set()
    for publication in rows:
        if publication.state in (PublicationState.PUBLISHED, PublicationState.RESTORED):
            report.published += 1
            continue
        if publication.state == PublicationState.FAILED:
            report.failed += 1
        elif publication.channel_id in stopped:
            report.waiting += 1
            continue
        else:
            outcome = _publish_one(publication, beat)
            if outcome != "failed":
                report.published += 1
                report.recovered += outcome == "recovered"
                continue
            report.failed += 1
        if publication.channel_id not in stopped:
            # Refused now, or by an earlier pass (whose worker may have died while undoing the
            # channel: finished now): the channel's other changes are undone or not made.
            stopped.add(publication.channel_id)
            undone = _stop_channel(publication, beat)
            report.undone += undone
            report.published -= undone  # counted when they were made, earlier in this loop
    return report


def _not_restored_line(channel_name: str, action: str, error: str) -> str:
    return f"{channel_name}: {action} not restored: {error or 'not tried yet'}"


def _summarise_restores(run_id: int) -> tuple[int, list[str]]:
    """Write the rolled-back run's summary of its public changes as the rows now say (restored
    count, what is still published with why), under the run's row lock, so two restores ending
    together leave the later picture; returns it."""
    with transaction.atomic():
        run = CutoverRun.objects.select_for_update().only("rollback_summary").get(pk=run_id)
        rows = Publication.objects.filter(run_id=run_id)
        restored = rows.filter(state=PublicationState.RESTORED).count()
        not_restored = [
            _not_restored_line(name, action, error)
            for name, action, error in rows.filter(state=PublicationState.PUBLISHED)
            .order_by("-position", "-id")
            .values_list("channel__name", "action", "error")
        ]
        summary = dict(run.rollback_summary or {})
        summary.update(public_changes_restored=restored, public_changes_not_restored=not_restored)
        CutoverRun.objects.filter(pk=run_id).update(rollback_summary=summary)
    return restored, not_restored


def _require_rolled_back(run: CutoverRun) -> None:
    if not CutoverRun.objects.filter(pk=run.pk, rolled_back_at__isnull=False).exists():
        message = _("Only a rolled-back run's public changes are restored; this run was not rolled back.")
        raise InvalidTransition(message)


def _put_back(publication: Publication) -> None:
    """Ask the publication's platform to put back what the change replaced (idempotent: `before`
    again; a post or topic already gone is what was wanted). Raises SendError when refused."""
    channel = publication.channel
    platform_for(channel.kind).restore(
        http_client(),
        _account(channel),
        _change(publication),
        publication.before or {},
        publication.platform_id,
        timeout=http_timeout(),
    )


# Why a change of a channel stopped by a refusal is failed, as the run page shows it.
NOT_MADE = "not made: an earlier change on this channel was refused"
UNDONE = "undone: a later change on this channel was refused"
NOT_UNDONE = "a later change on this channel was refused, and this one could not be undone"


def _stop_channel(refused: Publication, beat: Beat) -> int:
    """A change of this channel was refused: its later changes in the run are failed as not made,
    and the ones already made are undone, latest first, so the platform shows what it showed
    before the run (a retry from the run page makes them all again). Returns how many were
    undone; one the platform will not undo stays published, with why, for a rollback to restore."""
    with transaction.atomic():
        beat()
        Publication.objects.filter(
            run_id=refused.run_id,
            channel_id=refused.channel_id,
            position__gt=refused.position,
            state=PublicationState.PENDING,
        ).update(state=PublicationState.FAILED, error=NOT_MADE)
    made = Publication.objects.filter(
        run_id=refused.run_id,
        channel_id=refused.channel_id,
        position__lt=refused.position,
        state=PublicationState.PUBLISHED,
    ).select_related("channel", "run")
    undone = 0
    for publication in made.order_by("-position", "-id"):
        channel = publication.channel
        try:
            _put_back(publication)
        except SendError as exc:
            _record(publication, beat, error=f"{NOT_UNDONE}: {exc.error}"[:1000])
            continue
        with transaction.atomic():
            beat()
            Publication.objects.filter(pk=publication.pk, state=PublicationState.PUBLISHED).update(
                state=PublicationState.FAILED,
                error=UNDONE,
                status_code=0,
                platform_id="",
                published_at=None,
            )
            record_event(
                actor=None,
                actor_label="system:cutover",
                action="publication.undone",
                obj=publication.run,
                before={"channel": channel.pk, "action": publication.action, "platform_id": publication.platform_id},
                after={"channel": channel.pk, "action": publication.action, "state": publication.before},
            )
        undone += 1
    return undone


def restore_publications(*, run: CutoverRun, actor) -> tuple[int, list[str]]:
    """Put back what each of the rolled-back run's published changes replaced, latest first;
    returns (restored by this call, the platforms' refusals).

    Called after the rollback committed, outside any transaction: each platform is asked first,
    then its answer is recorded in a transaction of its own (restored, with its
    `publication.restored` audit event; or still published, with the platform's message and a
    `publication.not_restored` event), so the database never says "published" of a change its
    platform already undid because a later write failed. A change still published is restored
    again by `retry_restores` (restores are idempotent: `before` is put back, a post or topic
    already gone is what was wanted). The run's summary is rewritten from the rows at the end."""
    require(actor, "rollback_plan")
    _require_rolled_back(run)
    restored = 0
    errors: list[str] = []
    rows = Publication.objects.filter(run=run, state=PublicationState.PUBLISHED).select_related("channel")
    for publication in rows.order_by("-position", "-id"):
        channel = publication.channel
        try:
            _put_back(publication)
        except SendError as exc:
            errors.append(_not_restored_line(channel.name, publication.action, exc.error))
            with transaction.atomic():
                refused = Publication.objects.filter(pk=publication.pk, state=PublicationState.PUBLISHED).update(
                    error=exc.error[:1000], status_code=exc.status_code
                )
                if refused:
                    record_event(
                        actor=actor,
                        action="publication.not_restored",
                        obj=run,
                        after={"channel": channel.pk, "action": publication.action, "error": exc.error[:1000]},
                    )
            continue
        with transaction.atomic():
            # Only the call that moves the row records the undo: two restores at once audit it once.
            done = Publication.objects.filter(pk=publication.pk, state=PublicationState.PUBLISHED).update(
                state=PublicationState.RESTORED, restored_at=timezone.now(), error="", status_code=0
            )
            if done:
                restored += 1
                record_event(
                    actor=actor,
                    action="publication.restored",
                    obj=run,
                    before={
                        "channel": channel.pk,
                        "action": publication.action,
                        "platform_id": publication.platform_id,
                    },
                    after={"channel": channel.pk, "action": publication.action, "state": publication.before},
                )
    _summarise_restores(run.pk)
    return restored, errors


def retry_restores(*, actor, run: CutoverRun) -> tuple[int, list[str]]:
    """Restore again the rolled-back run's public changes that a platform refused to restore (or
    that were never tried: the process ended after the rollback committed), once the cause is
    fixed; returns (restored, the platforms' refusals). Refused when the run was not rolled back
    or nothing of it is left to restore."""
    require(actor, "rollback_plan")
    _require_rolled_back(run)
    if not Publication.objects.filter(run_id=run.pk, state=PublicationState.PUBLISHED).exists():
        raise InvalidTransition(_("Every public change of this run is already restored; nothing is left to restore."))
    return restore_publications(run=run, actor=actor)
