"""Post-cutover watchdog: threshold alerts on retired channels."""

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
    Message,
    WatchdogAlert,
)


def check_retired_channels(*, now: datetime | None = None) -> list[WatchdogAlert]:
    """Raise alerts (once per channel, kind and day) where a retired channel
    crosses a threshold, and email the people who own its plan."""
    now = now or timezone.now()
    created: list[WatchdogAlert] = []
    for channel in Channel.objects.filter(state=ChannelState.RETIRED):
        metrics = watchdog_metrics(channel, now=now)
        if metrics.retired_at is None:
            continue
        # What still arrives on the retired channel: received after the retirement, within the last
        # day (the page's "last 24 hours" also counts the hours before a recent retirement).
        since = max(metrics.retired_at, now - timedelta(hours=24))
        arriving = Message.objects.filter(channel=channel, direction="in", received_at__gte=since).count()
        checks = [
            (
                AlertKind.INBOUND,
                arriving,
                settings.DUSK_WATCHDOG_MAX_INBOUND_PER_DAY,
                arriving > settings.DUSK_WATCHDOG_MAX_INBOUND_PER_DAY,
                f"{channel.name}: {arriving} messages in the last 24 hours after retirement "
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
