"""The Platform interface and its registry: every platform with an API is registered, implements
the whole interface with one argument order, and its adapter stays free of Django and the app."""

from __future__ import annotations

import ast
import inspect
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from channels_app.models import ChannelKind
from channels_app.platforms.adapters import registry, x
from channels_app.platforms.adapters.base import (
    Account,
    BadDelivery,
    InboundMessage,
    Platform,
    ReplyContext,
    ReplyTarget,
    WebhookAnswer,
    WebhookRequest,
    sha256_b64_signature,
)
from channels_app.platforms.adapters.registry import PLATFORMS, UnknownPlatform, length_unit, platform_for
from channels_app.tests.support.fakeplatforms import (
    build_account_activity,
    build_tweet,
)

# Kinds Dusk answers on without any platform API: people staff them, nothing is posted.
NO_PLATFORM_API = {ChannelKind.PHONE, ChannelKind.WEB_FORM, ChannelKind.CHAT}
ADAPTERS = Path(registry.__file__).parent


def test_every_channel_kind_with_a_platform_api_is_registered():
    assert set(PLATFORMS) == set(ChannelKind.values) - NO_PLATFORM_API
    for kind in PLATFORMS:
        assert platform_for(ChannelKind(kind)) is PLATFORMS[kind]


@pytest.mark.parametrize("kind", sorted(PLATFORMS))
def test_each_registered_platform_implements_the_whole_interface(kind):
    platform = PLATFORMS[kind]
    cls = type(platform)
    assert isinstance(platform, Platform) and platform.kind == kind
    assert not inspect.isabstract(cls)
    assert isinstance(platform.default_base_url, str) and isinstance(platform.length_unit, str)
    assert platform.length_unit
    # One argument order for every platform: the interface's own signatures.
    for name in ("reply_target", "send_reply", "find_reply", "message_meta", "verify_webhook", "parse_webhook"):
        own, interface = (inspect.signature(getattr(c, name)).parameters for c in (cls, Platform))
        assert own == interface, name
    if platform.sends_replies and not platform.sends_mail:
        assert platform.needs_api_token
        assert platform.default_base_url.startswith("https://") or platform.base_url_label
    assert set(platform.webhook_methods) <= {"GET", "POST"}
    if platform.webhook_methods:
        assert "POST" in platform.webhook_methods
        assert cls.verify_webhook is not Platform.verify_webhook
        assert cls.parse_webhook is not Platform.parse_webhook
    if "GET" in platform.webhook_methods:
        assert cls.answer_challenge is not Platform.answer_challenge


def _imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(level, module) of every import: level 0 is absolute, 1 is this package, 2 its parent."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_adapters_import_nothing_from_django_or_the_rest_of_the_app():
    modules = sorted(ADAPTERS.glob("*.py"))
    assert {m.name for m in modules} >= {"base.py", "registry.py", "x.py", "email.py", "imap.py"}
    for module in modules:
        for level, name in _imports(ast.parse(module.read_text(encoding="utf-8"), filename=str(module))):
            where = f"{module.name} imports {'.' * level}{name}"
            assert level <= 1, where  # nothing above channels_app.platforms.adapters
            if level == 0:
                assert name.split(".")[0] != "django", where
                assert name.split(".")[0] != "channels_app" or name.startswith(
                    ("channels_app.platforms.adapters", "channels_app.core.mailbox", "channels_app.core.hosts")
                ), where


def test_a_kind_without_a_platform_api_has_no_platform():
    with pytest.raises(UnknownPlatform, match="no platform adapter for 'phone' channels"):
        platform_for(ChannelKind.PHONE)
    assert length_unit(ChannelKind.PHONE) == "characters"
    assert length_unit(ChannelKind.X) == "weighted characters"


def _context(**overrides) -> ReplyContext:
    values = {
        "thread_id": "1001",
        "reply_to": None,
        "author_id": "",
        "customer_id": "c-1",
        "customer_handle": "ana",
        "meta": {},
        "reference": "DSK-7KQ2M9XH",
        "channel_name": "Support mail",
    }
    return ReplyContext(**{**values, **overrides})


def test_reply_targets_say_what_is_missing():
    with pytest.raises(ValueError, match="no tweet to reply to in conversation DSK-7KQ2M9XH"):
        platform_for("x").reply_target(_context(thread_id="conv-a"))
    with pytest.raises(ValueError, match="topic id 'abc' is not a number"):
        platform_for("discourse").reply_target(_context(thread_id="abc"))
    with pytest.raises(ValueError, match="post number 'four' is not a number"):
        platform_for("discourse").reply_target(_context(thread_id="12", meta={"post_number": "four"}))
    with pytest.raises(ValueError, match="no email address to answer in conversation DSK-7KQ2M9XH"):
        platform_for("email").reply_target(_context())


def test_reply_targets_per_platform():
    assert platform_for("x").reply_target(_context(reply_to="1002")) == ReplyTarget(parent_id="1002")
    assert platform_for("youtube").reply_target(_context(thread_id="Ugx1")) == ReplyTarget(parent_id="Ugx1")
    assert platform_for("discourse").reply_target(_context(thread_id="12", meta={"post_number": 4})) == ReplyTarget(
        thread_id="12", parent_id="4"
    )
    assert platform_for("messenger").reply_target(_context(author_id="psid-9")) == ReplyTarget(recipient_id="psid-9")
    assert platform_for("messenger").reply_target(_context()) == ReplyTarget(recipient_id="c-1")
    mail = platform_for("email").reply_target(
        _context(reply_to="<m2@example.com>", meta={"address": "ana@example.com", "references": "<m1@example.com>"})
    )
    assert mail == ReplyTarget(
        recipient_id="ana@example.com",
        subject="Your message to Support mail",
        parent_id="<m2@example.com>",
        references=("<m1@example.com>",),
    )


def _http_case(kind: str, request) -> tuple[object, str, str, ReplyTarget]:
    """(fake platform, token, own account id, target) for a reply on `kind`."""
    if kind == "x":
        fake = request.getfixturevalue("fake_x")
        return fake, fake.bearer_token, fake.account_id, ReplyTarget(parent_id="1001")
    if kind == "youtube":
        fake = request.getfixturevalue("fake_youtube")
        fake.add_comment("Ugx1", "where is my parcel?", datetime.now(UTC) - timedelta(minutes=5))
        return fake, fake.access_token, fake.channel_id, ReplyTarget(parent_id="Ugx1")
    if kind == "discourse":
        fake = request.getfixturevalue("fake_discourse")
        return fake, fake.api_key, fake.api_username, ReplyTarget(thread_id="12", parent_id="4")
    fake = request.getfixturevalue("fake_messenger")
    return fake, fake.page_access_token, fake.page_id, ReplyTarget(recipient_id="psid-9")


@pytest.mark.parametrize("kind", ["x", "youtube", "discourse", "messenger"])
def test_a_reply_sent_through_the_interface_is_found_again(kind, request):
    client = request.getfixturevalue("http_client")
    fake, token, account_id, target = _http_case(kind, request)
    platform = platform_for(kind)
    since = datetime.now(UTC) - timedelta(minutes=1)
    account = Account(base_url=fake.base_url, token=token, account_id=account_id)
    assert platform.find_reply(client, account, target, "We moved: call us", since) is None
    sent = platform.send_reply(client, account, target, "We moved: call us")
    assert sent.platform_id
    assert platform.find_reply(client, account, target, "We moved: call us", since) == sent.platform_id
    assert fake.violations == []


def _delivery(body: bytes, headers: dict[str, str], **kwargs) -> WebhookRequest:
    return WebhookRequest(headers=headers, read_body=lambda: body, content_type="application/json", **kwargs)


def test_an_x_delivery_is_verified_and_parsed_through_the_interface():
    platform = platform_for("x")
    body = json.dumps(build_account_activity("783214", [build_tweet("1001", "hello", "42", "ana")])).encode()
    headers = {x.SIGNATURE_HEADER: sha256_b64_signature("s3cret", body)}
    platform.verify_webhook("s3cret", _delivery(body, headers))
    (message,) = platform.parse_webhook(_delivery(body, headers, account_id="783214"))
    assert isinstance(message, InboundMessage) and message.platform_message_id == "1001"
    with pytest.raises(BadDelivery, match=r"for account 783214; Brand on X is account 999\."):
        platform.parse_webhook(_delivery(body, headers, account_id="999", channel_name="Brand on X"))
    with pytest.raises(BadDelivery, match="The body is not a JSON object."):
        platform.parse_webhook(_delivery(b"[]", headers))
    answer = platform.answer_challenge("s3cret", {"crc_token": "abc"})
    assert answer == WebhookAnswer(json={"response_token": x.crc_response("s3cret", "abc")})


def test_a_discourse_ping_is_answered_without_messages():
    answer = platform_for("discourse").parse_webhook(_delivery(b"{}", {"X-Discourse-Event": "ping"}))
    assert answer == WebhookAnswer(json={"ok": True, "event": "ping"})


def test_the_email_platform_keeps_what_a_reply_needs():
    message = InboundMessage(
        platform_message_id="<m1@example.com>",
        thread_id="<m1@example.com>",
        customer_id="ana@example.com",
        customer_handle="Ana@example.com",
        customer_name="Ana",
        text="hello",
        lang=None,
        created_at=datetime.now(UTC),
        in_reply_to=None,
        raw={
            "subject": "Parcel",
            "parsed_headers": {"references": "<m0@example.com>", "auto-submitted": "auto-replied"},
        },
    )
    assert platform_for("email").message_meta(message) == {
        "subject": "Parcel",
        "address": "Ana@example.com",
        "references": "<m0@example.com>",
        "automatic": "Auto-Submitted: auto-replied",
    }
    assert platform_for("x").message_meta(message) == {}
