"""Signed webhooks from the platforms: verify, parse, store, answer 2xx after the commit.

Each view: find the channel, read its secret from the environment (the channel names the
variable), check the signature in constant time over the raw body, parse, hand the messages to
`services.receive_messages`, answer. Nothing is stored unless every check passed. These are the
only csrf_exempt views: the platforms authenticate with their signatures, not with cookies.

| URL                           | platform  | checks                                                  |
|-------------------------------|-----------|---------------------------------------------------------|
| GET  /hooks/<id>/x?crc_token= | X         | answers the CRC challenge (also after the sunset)       |
| POST /hooks/<id>/x            | X         | x-twitter-webhooks-signature (base64 HMAC-SHA256)       |
| POST /hooks/<id>/discourse    | Discourse | X-Discourse-Event-Signature (sha256= hex HMAC)          |
| GET  /hooks/<id>/messenger    | Messenger | hub.verify_token (env <webhook_secret_env>_VERIFY_TOKEN) |
| POST /hooks/<id>/messenger    | Messenger | X-Hub-Signature-256 (sha256= hex HMAC, app secret)      |
| POST /hooks/<id>/email        | email     | Basic auth password or Mailgun signature fields         |
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from channels_app.core.queue import kick_outbox
from channels_app.models import Channel, ChannelKind
from channels_app.platforms.adapters import discourse, messenger, x
from channels_app.platforms.adapters import email as email_adapter
from channels_app.platforms.adapters.base import InboundMessage, SignatureError
from channels_app.platforms.selectors import webhook_channel
from channels_app.platforms.services.inbound import receive_messages

log = logging.getLogger(__name__)


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _webhook(kind: str, methods: list[str]) -> Callable:
    """csrf_exempt, allowed methods, the channel by id and kind, refusals as JSON errors."""

    def decorate(view: Callable[[HttpRequest, Channel], HttpResponse]) -> Callable:
        @csrf_exempt
        @require_http_methods(methods)
        @wraps(view)
        def wrapped(request: HttpRequest, channel_id: int) -> HttpResponse:
            channel = webhook_channel(channel_id, kind)
            try:
                if channel is None:
                    raise _Refused(404, f"No {ChannelKind(kind).label} channel with id {channel_id}.")
                return view(request, channel)
            except _Refused as refused:
                return JsonResponse({"error": refused.message}, status=refused.status)
            except SignatureError as exc:
                return JsonResponse({"error": f"Signature check failed: {exc}."}, status=403)

        return wrapped

    return decorate


def _secret(channel: Channel, suffix: str = "") -> str:
    """A secret from the environment variable the channel names; 503 while it is not set, so the
    platform retries later instead of losing the delivery."""
    name = channel.webhook_secret_env + suffix if channel.webhook_secret_env else ""
    value = os.environ.get(name) if name else None
    if not value:
        what = f"environment variable {name} is not set" if name else "the channel names no environment variable"
        raise _Refused(503, f"The webhook secret of {channel.name} is not configured: {what}. Nothing was stored.")
    return value


def _json_body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Refused(400, f"The body is not JSON: {exc}.") from None


def _parse(parse: Callable[[], Any]) -> Any:
    try:
        return parse()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _Refused(400, f"Malformed event ({type(exc).__name__}: {exc}). Nothing was stored.") from None


def _accept(channel: Channel, messages: list[InboundMessage]) -> JsonResponse:
    try:
        result = receive_messages(channel=channel, messages=messages)
    except ValidationError as exc:
        raise _Refused(400, " ".join(exc.messages) + " Nothing was stored.") from None
    # receive_messages has committed: only now is the delivery acknowledged, and the sender
    # queued (it reads committed rows).
    if result.replies_queued:
        kick_outbox()
    return JsonResponse(result.as_dict())


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """404 under /hooks/ (channels_app/web/hooks.py): JSON, as the webhooks' other refusals."""
    return JsonResponse({"error": f"No webhook at {request.path}."}, status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    """500 under /hooks/: nothing was acknowledged, so the platform delivers again."""
    return JsonResponse({"error": "Server error. Nothing was acknowledged; deliver again later."}, status=500)


@_webhook(ChannelKind.X, ["GET", "POST"])
def x_webhook(request: HttpRequest, channel: Channel) -> HttpResponse:
    secret = _secret(channel)
    if request.method == "GET":
        # The CRC check: X repeats it hourly and stops delivering to a URL that fails it, so it
        # is answered whatever the channel's state.
        crc_token = request.GET.get("crc_token", "")
        if not crc_token:
            raise _Refused(400, "Missing crc_token.")
        return JsonResponse({"response_token": x.crc_response(secret, crc_token)})
    x.verify_signature(secret, request.body, request.headers.get(x.SIGNATURE_HEADER))
    payload = _json_body(request)
    if not isinstance(payload, dict):
        raise _Refused(400, "The body is not a JSON object.")
    for_user = str(payload.get("for_user_id") or "")
    if channel.platform_account_id and for_user and for_user != channel.platform_account_id:
        raise _Refused(
            400, f"This delivery is for account {for_user}; {channel.name} is account {channel.platform_account_id}."
        )
    return _accept(channel, _parse(lambda: x.parse_events(payload)))


@_webhook(ChannelKind.DISCOURSE, ["POST"])
def discourse_webhook(request: HttpRequest, channel: Channel) -> HttpResponse:
    discourse.verify_signature(_secret(channel), request.body, request.headers.get(discourse.SIGNATURE_HEADER))
    payload = _json_body(request)
    if not isinstance(payload, dict):
        raise _Refused(400, "The body is not a JSON object.")
    event = request.headers.get(discourse.EVENT_HEADER)
    if event == "ping":
        return JsonResponse({"ok": True, "event": "ping"})
    own = channel.platform_account_id or None
    return _accept(channel, _parse(lambda: discourse.parse_event(event, payload, own)))


@_webhook(ChannelKind.MESSENGER, ["GET", "POST"])
def messenger_webhook(request: HttpRequest, channel: Channel) -> HttpResponse:
    if request.method == "GET":
        challenge = messenger.verify_subscription(request.GET, _secret(channel, "_VERIFY_TOKEN"))
        return HttpResponse(challenge, content_type="text/plain; charset=utf-8")
    messenger.verify_signature(_secret(channel), request.body, request.headers.get(messenger.SIGNATURE_HEADER))
    payload = _json_body(request)
    if not isinstance(payload, dict):
        raise _Refused(400, "The body is not a JSON object.")
    return _accept(channel, _parse(lambda: messenger.parse_events(payload)))


@_webhook(ChannelKind.EMAIL, ["POST"])
def email_webhook(request: HttpRequest, channel: Channel) -> HttpResponse:
    secret = _secret(channel)
    if request.content_type == "application/json":
        fields = _json_body(request)
        if not isinstance(fields, dict):
            raise _Refused(400, "The body is not a JSON object.")
    else:
        fields = request.POST.dict()
    email_adapter.verify_request(secret, request.headers.get("Authorization"), fields)
    message = _parse(lambda: email_adapter.parse_inbound(fields))
    if not message.customer_id:
        raise _Refused(400, "The email has no sender address. Nothing was stored.")
    return _accept(channel, [message])
