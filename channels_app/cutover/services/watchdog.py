"""Post-cutover watchdog: tracked redirects and threshold alerts on retired channels."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.utils import timezone

from channels_app.cutover.selectors import watchdog_metrics
from channels_app.models import (
    AlertKind,
    Channel,
    ChannelState,
    Conversation,
    PlanState,
    RedirectClick,
    RedirectTarget,
    WatchdogAlert,
)

# A plan's targets are where customers go once four eyes have seen them: a draft's or a
# pending plan's redirect can be changed at will by its author.
APPROVED_PLAN_STATES = (PlanState.SCHEDULED, PlanState.RUNNING, PlanState.COMPLETED)


def record_click(*, reference: str, now: datetime | None = None, count: bool = True) -> RedirectTarget | None:
    """Log that the customer behind `reference` followed the tracked link and return where to
    send them: the web redirect of an approved plan of their channel (the one their
    conversation was sent to, else the newest approved plan's first), or None.

    Anonymous callers write here, so a conversation gets at most one click row per target in
    DUSK_TRACKED_LINK_DEDUP_SECONDS, and none when `count` is False (the caller is over its
    rate limit)."""
    now = now or timezone.now()
    conversation = Conversation.objects.filter(reference=reference).select_related("redirected_to__plan").first()
    if conversation is None:
        return None
    target = conversation.redirected_to
    if target is None or target.kind != "url" or target.plan.state not in APPROVED_PLAN_STATES:
        target = (
            RedirectTarget.objects.filter(
                plan__plan_channels__channel_id=conversation.channel_id,
                plan__state__in=APPROVED_PLAN_STATES,
                kind="url",
            )
            .order_by("-plan__created_at", "position")
            .first()
        )
    if target is None:
        return None
    window = timedelta(seconds=settings.DUSK_TRACKED_LINK_DEDUP_SECONDS)
    if (
        count
        and not RedirectClick.objects.filter(conversation=conversation, target=target, at__gt=now - window).exists()
    ):
        RedirectClick.objects.create(conversation=conversation, target=target, at=now)
    return target


def check_retired_channels(*, now: datetime | None = None) -> list[WatchdogAlert]:
    """Raise alerts (once per channel, kind and day) where a retired channel
    crosses a threshold, and email the people who own its plan."""
    now = now or timezone.now()
    created: list[WatchdogAlert] = []
    for channel in Channel.objects.filter(state=ChannelState.RETIRED):
        metrics = watchdog_metrics(channel, now=now)
        if metrics.retired_at is None:
            continue
        checks = [
            (
                AlertKind.INBOUND,
                metrics.inbound_last_24h,
                settings.DUSK_WATCHDOG_MAX_INBOUND_PER_DAY,
                metrics.inbound_last_24h > settings.DUSK_WATCHDOG_MAX_INBOUND_PER_DAY,
                f"{channel.name}: {metrics.inbound_last_24h} messages in the last 24 hours after retirement "
                f"(threshold {settings.DUSK_WATCHDOG_MAX_INBOUND_PER_DAY})",
            ),
            (
                AlertKind.FAILED_REPLIES,
                metrics.failed_replies,
                settings.DUSK_WATCHDOG_MAX_FAILED_REPLIES,
                metrics.failed_replies > settings.DUSK_WATCHDOG_MAX_FAILED_REPLIES,
                f"{channel.name}: {metrics.failed_replies} replies failed permanently "
                f"(threshold {settings.DUSK_WATCHDOG_MAX_FAILED_REPLIES})",
            ),
        ]
        if metrics.redirect_share is not None and metrics.customers_told >= settings.DUSK_WATCHDOG_MIN_SAMPLE:
            checks.append(
                (
                    AlertKind.REDIRECT_SHARE,
                    metrics.redirect_share,
                    settings.DUSK_WATCHDOG_MIN_REDIRECT_SHARE,
                    metrics.redirect_share < settings.DUSK_WATCHDOG_MIN_REDIRECT_SHARE,
                    f"{channel.name}: only {metrics.redirect_share:.0%} of {metrics.customers_told} customers "
                    f"followed the redirect (threshold {settings.DUSK_WATCHDOG_MIN_REDIRECT_SHARE:.0%})",
                )
            )
        for kind, value, threshold, crossed, message in checks:
            if not crossed:
                continue
            try:
                with transaction.atomic():
                    created.append(
                        WatchdogAlert.objects.create(
                            channel=channel,
                            kind=kind,
                            day=now.date(),
                            value=value,
                            threshold=threshold,
                            message=message[:300],
                        )
                    )
            except IntegrityError:
                pass  # already raised today
    _notify(created)
    return created


def _notify(alerts: list[WatchdogAlert]) -> None:
    for alert in alerts:
        plan_people = {
            email
            for pc in alert.channel.plan_channels.select_related("plan__author", "plan__approved_by")
            for email in (pc.plan.author.email, pc.plan.approved_by.email if pc.plan.approved_by else "")
            if email
        }
        # Claim first: a second checker racing this one sends nothing.
        if not plan_people or not WatchdogAlert.objects.filter(pk=alert.pk, notified_at__isnull=True).update(
            notified_at=timezone.now()
        ):
            continue
        with get_connection(fail_silently=True) as mail:
            mail.send_messages(
                [EmailMessage(subject=f"[Dusk] Watchdog: {alert.message}", body=alert.message, to=sorted(plan_people))]
            )
