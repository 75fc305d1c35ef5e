"""Platforms without webhooks: the YouTube comment poller and the IMAP mailbox poller."""

from __future__ import annotations

import ssl
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from channels_app.core import mailbox as mailbox_url
from channels_app.models import Channel, ChannelKind
from channels_app.platforms.adapters import imap, youtube
from channels_app.platforms.adapters.base import SendError
from channels_app.platforms.adapters.registry import platform_for
from channels_app.platforms.services.inbound import InboundResult, receive_messages
from channels_app.platforms.services.outbox import env_secret, http_client


class _Overtaken(Exception):
    """Another poll of the same channel committed first: ours is rolled back."""


def _note_error(channel: Channel, error: str) -> None:
    with transaction.atomic():
        Channel.objects.filter(pk=channel.pk).update(poll_error=error[:2000])


def _commit_poll(channel: Channel, changes: dict, messages: list, now: datetime) -> InboundResult:
    """Move the mark (changes) and store the messages in one transaction, only if no other poll
    of this channel committed since we read it (compare-and-set on polled_at)."""
    try:
        with transaction.atomic():
            moved = Channel.objects.filter(pk=channel.pk, polled_at=channel.polled_at)
            if channel.polled_at is None:
                moved = Channel.objects.filter(pk=channel.pk, polled_at__isnull=True)
            if not moved.update(**changes):
                raise _Overtaken
            return receive_messages(channel=channel, messages=messages, now=now)
    except _Overtaken:
        return InboundResult()


def poll_youtube_channel(*, channel_id: int, now: datetime | None = None) -> InboundResult:
    """Read the comments posted since the last poll and store them like webhook deliveries.

    The high-water mark starts at the channel's registration: older comments were never
    Dusk's to answer. The new mark, its boundary ids and the messages are committed together
    and only if no other poll of this channel committed meanwhile (compare-and-set on
    polled_at), so a comment is neither stored twice nor skipped, even with two pollers.
    """
    channel = Channel.objects.get(pk=channel_id)
    now = now or timezone.now()
    token = env_secret(channel.api_token_env)
    if not token:
        _note_error(channel, f"no API token: environment variable {channel.api_token_env or '(none named)'} is not set")
        return InboundResult()
    if not channel.platform_account_id:
        _note_error(channel, "set the YouTube channel id (UC...) as the channel's platform account id")
        return InboundResult()
    high_water = channel.poll_high_water or channel.created_at
    try:
        polled = youtube.poll_new_comments(
            http_client(),
            channel.api_base_url or platform_for(ChannelKind.YOUTUBE).default_base_url,
            token,
            channel.platform_account_id,
            high_water,
            channel.poll_boundary_ids or [],
            own_channel_id=channel.platform_account_id,
            max_pages=settings.DUSK_YOUTUBE_MAX_PAGES,
        )
    except SendError as exc:
        _note_error(channel, f"poll failed: {exc.error}")
        return InboundResult()
    error = ""
    if not polled.complete:
        # YouTube lists newest first and cannot seek back in time: past max_pages the oldest
        # new comments are out of reach. Say so on the channel rather than stall forever.
        error = (
            f"more than {settings.DUSK_YOUTUBE_MAX_PAGES} pages of new comments since the last poll: "
            "older ones may have been missed (poll more often or raise DUSK_YOUTUBE_MAX_PAGES)"
        )
    return _commit_poll(
        channel,
        {
            "poll_high_water": polled.high_water or high_water,
            "poll_boundary_ids": sorted(polled.boundary_ids),
            "polled_at": now,
            "poll_error": error,
        },
        polled.messages,
        now,
    )


def poll_email_channel(*, channel_id: int, now: datetime | None = None) -> InboundResult:
    """Read the mail that arrived in an email channel's IMAP mailbox since the last poll and
    store it like inbound-parse deliveries (same Message-ID platform ids: a mail that also came
    by webhook is stored once).

    The mark is (UIDVALIDITY, highest UID read), committed with the messages under the same
    compare-and-set as the YouTube poller. The first poll reads the mailbox from the channel's
    registration; after a UIDVALIDITY change it reads again from an hour before the last poll,
    and mail seen before is a duplicate by its Message-ID: stored and answered once.
    """
    channel = Channel.objects.get(pk=channel_id)
    now = now or timezone.now()
    try:
        mailbox = mailbox_url.parse_mailbox_url(channel.api_base_url)
    except ValueError as exc:
        _note_error(channel, f"bad mailbox URL: {exc}")
        return InboundResult()
    password = env_secret(channel.api_token_env)
    if not password:
        _note_error(
            channel,
            f"no mailbox password: environment variable {channel.api_token_env or '(none named)'} is not set",
        )
        return InboundResult()
    own_address = channel.handle if "@" in channel.handle else ""
    if channel.poll_uid_validity is None:
        since = channel.created_at  # older mail was never Dusk's to answer
    else:
        since = (channel.polled_at or channel.created_at) - timedelta(hours=1)
    try:
        context = imap.tls_context(settings.DUSK_IMAP_CA_FILE)
    except (OSError, ssl.SSLError) as exc:
        _note_error(channel, f"cannot read the CA bundle DUSK_IMAP_CA_FILE={settings.DUSK_IMAP_CA_FILE}: {exc}")
        return InboundResult()
    try:
        polled = imap.poll_new_mail(
            mailbox,
            mailbox.username or own_address,
            password,
            uid_validity=channel.poll_uid_validity,
            last_uid=channel.poll_last_uid or 0,
            since=since,
            own_address=own_address,
            max_messages=settings.DUSK_IMAP_MAX_MESSAGES,
            timeout=settings.DUSK_IMAP_TIMEOUT,
            ssl_context=context,
            allow_private=settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS,
        )
    except imap.MailboxError as exc:
        _note_error(channel, f"poll failed: {exc}")
        return InboundResult()
    notes = []
    if not polled.complete:
        notes.append(
            f"more than {settings.DUSK_IMAP_MAX_MESSAGES} new messages: the rest is read by the next polls "
            "(poll more often or raise DUSK_IMAP_MAX_MESSAGES)"
        )
    if polled.unreadable:
        notes.append(f"skipped unreadable messages (UIDs {', '.join(map(str, polled.unreadable))})")
    return _commit_poll(
        channel,
        {
            "poll_uid_validity": polled.uid_validity,
            "poll_last_uid": polled.last_uid,
            "polled_at": now,
            "poll_error": "; ".join(notes),
        },
        polled.messages,
        now,
    )
