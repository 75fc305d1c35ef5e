"""Helpers for the platform-edge tests: channels wired to the fakes, sunsets, signed deliveries."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from django.utils import timezone

from channels_app.cutover.services.engine import claim_due_phases, run_cutover
from channels_app.models import Channel, Conversation, Message, PhaseKind
from channels_app.plans.services.plans import AutoReplyInput
from channels_app.platforms.adapters.base import InboundMessage, sha256_b64_signature, sha256_hex_signature
from channels_app.platforms.services.inbound import receive_messages
from channels_app.tests.support.factories import ChannelFactory
from channels_app.tests.support.fakeplatforms import build_account_activity
from channels_app.tests.support.helpers import REDIRECTS, approved_plan, utc_phase

BRAND_ID = "783214"
SECRETS = {
    "DUSK_CHANNEL_TEST_WEBHOOK_SECRET": "hook-secret-for-tests",
    "DUSK_CHANNEL_TEST_WEBHOOK_SECRET_VERIFY_TOKEN": "verify-token-for-tests",
    "DUSK_CHANNEL_TEST_X_TOKEN": "x-bearer-token",
    "DUSK_CHANNEL_TEST_DISCOURSE_KEY": "discourse-key",
    "DUSK_CHANNEL_TEST_MESSENGER_TOKEN": "page-token",
    "DUSK_CHANNEL_TEST_YOUTUBE_TOKEN": "yt-oauth-token",
}
WEBHOOK_SECRET = SECRETS["DUSK_CHANNEL_TEST_WEBHOOK_SECRET"]
TOKEN_ENV = {
    "x": "DUSK_CHANNEL_TEST_X_TOKEN",
    "discourse": "DUSK_CHANNEL_TEST_DISCOURSE_KEY",
    "messenger": "DUSK_CHANNEL_TEST_MESSENGER_TOKEN",
    "youtube": "DUSK_CHANNEL_TEST_YOUTUBE_TOKEN",
    "email": "",
}
ACCOUNT = {"x": BRAND_ID, "discourse": "dusk-bot", "youtube": "UCfakechannel0000000000", "messenger": "page-1"}

# Every phase's reply in English, and the hard-close one in French and Indonesian too.
REPLIES = [
    AutoReplyInput("notice", "en", "Hi {customer_name}, this channel closes on {date}. Until then we still answer."),
    AutoReplyInput("soft_close", "en", "Hi {customer_name}, we no longer open new cases here: {redirect_url}"),
    AutoReplyInput(
        "hard_close", "en", "Hi {customer_name}, support moved: call {phone} or visit {redirect_url} (ref {reference})."
    ),
    AutoReplyInput(
        "hard_close",
        "fr",
        "Bonjour {customer_name}, le support a déménagé : {phone} ou {redirect_url} (réf {reference}).",
    ),
    AutoReplyInput(
        "hard_close",
        "id",
        "Halo {customer_name}, dukungan pindah: hubungi {phone} atau {redirect_url} (ref {reference}).",
    ),
]


def platform_channel(kind: str = "x", base_url: str = "", **overrides) -> Channel:
    values = {
        "kind": kind,
        "webhook_secret_env": "DUSK_CHANNEL_TEST_WEBHOOK_SECRET",
        "api_token_env": TOKEN_ENV.get(kind, ""),
        "platform_account_id": ACCOUNT.get(kind, ""),
        "rate_limit_per_minute": 100_000,
        "handle": "support@brand.example" if kind == "email" else f"@brand-{kind}",
    }
    if base_url:  # otherwise the factory's: the session's platform sandbox
        values["api_base_url"] = base_url
    values.update(overrides)
    return ChannelFactory(**values)


def sunset(*, manager, approver, channels, until: str = PhaseKind.HARD_CLOSE, replies=REPLIES):
    """Approve a plan with notice, soft close and hard close, and run its phases up to `until`."""
    start = timezone.now() + timedelta(minutes=5)
    kinds = [PhaseKind.NOTICE, PhaseKind.SOFT_CLOSE, PhaseKind.HARD_CLOSE]
    phases = [utc_phase(kind, start + timedelta(days=i)) for i, kind in enumerate(kinds)]
    plan = approved_plan(
        manager=manager, approver=approver, channels=channels, phases=phases, auto_replies=replies, redirects=REDIRECTS
    )
    for kind in kinds[: kinds.index(until) + 1]:
        phase = plan.phases.get(kind=kind)
        (run_id,) = claim_due_phases(now=phase.instant + timedelta(seconds=1))
        assert run_cutover(run_id=run_id, worker_id="test") in ("completed", "delivering")
    for channel in channels:
        channel.refresh_from_db()
    return plan


def signed_x_delivery(tweets: list[dict], for_user_id: str = BRAND_ID) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(build_account_activity(for_user_id, tweets), ensure_ascii=False).encode()
    return body, {"x-twitter-webhooks-signature": sha256_b64_signature(WEBHOOK_SECRET, body)}


def signed_hex(body: bytes, header: str) -> dict[str, str]:
    return {header: sha256_hex_signature(WEBHOOK_SECRET, body)}


def post_x(client, channel: Channel, tweets: list[dict], **kwargs):
    body, headers = signed_x_delivery(tweets, **kwargs)
    return client.post(f"/hooks/{channel.pk}/x", body, content_type="application/json", headers=headers)


def at(minutes: float) -> datetime:
    return timezone.now() + timedelta(minutes=minutes)


def inbound(pid, *, customer="42", text="@brand where is my order?", lang="en", name="Ana Pérez", **kw):
    """One message as an adapter hands it to receive_messages."""
    return InboundMessage(
        platform_message_id=pid,
        thread_id=kw.pop("thread", pid),
        customer_id=customer,
        customer_handle=kw.pop("handle", f"user{customer}"),
        customer_name=name,
        text=text,
        lang=lang,
        created_at=kw.pop("created_at", timezone.now()),
        in_reply_to=kw.pop("in_reply_to", None),
        raw=kw.pop("raw", {}),
    )


def receive(channel, *messages):
    return receive_messages(channel=channel, messages=list(messages))


def mail(message_id, text="Where did support go?", *, sender="Ana Lima <ana@example.com>", **headers):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@brand.example"
    message["Subject"] = headers.pop("subject", "Help")
    message["Date"] = headers.pop("date", format_datetime(timezone.now()))
    if message_id:
        message["Message-ID"] = message_id
    message.set_content(text)
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    return message


def require_postgresql() -> None:
    """Threads racing inside the database: what these tests prove is PostgreSQL's (SQLite's
    in-memory test database serialises differently); make test always runs them there."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("concurrency tests need PostgreSQL: set DATABASE_URL (make test does)")


def customers_with_tweets(channel, n: int) -> None:
    """n open conversations, one customer each, each with the tweet a hand-off notice answers."""
    now = timezone.now()
    for i in range(n):
        conversation = Conversation.objects.create(
            channel=channel,
            platform_thread_id=f"t{i}",
            customer_id=f"c{i}",
            customer_handle=f"@c{i}",
            opened_at=now,
            last_message_at=now,
            reference=f"DSK-D{i:07d}",
        )
        Message.objects.create(
            channel=channel,
            conversation=conversation,
            platform_message_id=str(1_600_000_000_000_000_000 + i),
            direction="in",
            author_id=conversation.customer_id,
            text="@brand where is my order?",
            lang="en",
            created_at=now,
        )
