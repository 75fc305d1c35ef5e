"""Signed webhooks from the platforms: verify, parse, store, answer 2xx after the commit.

One view per platform with webhooks (web/hooks.py asks the registry, adapters/registry.py):
find the channel, read its secret from the environment (the channel names the variable), let the
platform check the signature in constant time over the raw body and parse, hand the messages to
`services.receive_events`, answer. Nothing is stored unless every check passed. These are the
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

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from channels_app.core import metrics
from channels_app.core.logcontext import log_context
from channels_app.core.queue import kick_outbox
from channels_app.core.secrets import channel_secret
from channels_app.models import Channel, ChannelKind
from channels_app.platforms.adapters.base import (
    BadDelivery,
    Event,
    SignatureError,
    WebhookAnswer,
    WebhookRequest,
)
from channels_app.platforms.adapters.email import SIGNATURE_MAX_AGE
from channels_app.platforms.adapters.registry import platform_for
from channels_app.platforms.selectors import webhook_channel
from channels_app.platforms.services.inbound import receive_events, remember_webhook_token

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
            status = 500  # unless an answer comes back: the exception becomes the 500 page
            try:
                with log_context(channel_id=channel_id):
                    response = answer(request, channel_id)
                status = response.status_code
                return response
            finally:
                if request.method == "POST":
                    metrics.count(metrics.WEBHOOK_DELIVERIES, kind, str(status))

        def answer(request: HttpRequest, channel_id: int) -> HttpResponse:
            channel = webhook_channel(channel_id, kind)
            try:
                if channel is None:
                    raise _Refused(404, f"No {ChannelKind(kind).label} channel with id {channel_id}.")
                return view(request, channel)
            except _Refused as refused:
                return JsonResponse({"error": refused.message}, status=refused.status)
            except BadDelivery as exc:
                return JsonResponse({"error": str(exc)}, status=400)
            except SignatureError as exc:
                return JsonResponse({"error": f"Signature check failed: {exc}."}, status=403)

        return wrapped

    return decorate


def _secret(channel: Channel, suffix: str = "") -> str:
    """A secret from the environment variable the channel names; 503 while it is not set, so the
    platform retries later instead of losing the delivery."""
    name = channel.webhook_secret_env + suffix if channel.webhook_secret_env else ""
    value = channel_secret(name)
    if not value:
        # Which variable is missing is for the operator (the log), not for whoever calls.
        log.warning(
            "webhook of channel %s: its secret variable %r is not set or not a channel secret", channel.pk, name
        )
        raise _Refused(503, f"The webhook secret of {channel.name} is not configured. Nothing was stored.")
    return value


def _parse(parse: Callable[[], Any]) -> Any:
    try:
        return parse()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _Refused(400, f"Malformed event ({type(exc).__name__}: {exc}). Nothing was stored.") from None


def _accept(channel: Channel, events: list[Event], token: str | None) -> JsonResponse:
    try:
        # The token and the events are committed together: a delivery that fails here can
        # be delivered again with the same token.
        with transaction.atomic():
            if token and not remember_webhook_token(channel=channel, token=token, window=2 * SIGNATURE_MAX_AGE):
                raise _Refused(403, "Signature check failed: this signature was already used (replay?).")
            result = receive_events(channel=channel, events=events)
    except ValidationError as exc:
        raise _Refused(400, " ".join(exc.messages) + " Nothing was stored.") from None
    # receive_events has committed: only now is the delivery acknowledged, and the sender
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


def _answer(answer: WebhookAnswer) -> HttpResponse:
    if answer.json is not None:
        return JsonResponse(answer.json)
    return HttpResponse(answer.text, content_type="text/plain; charset=utf-8")


def platform_webhook(kind: str) -> Callable:
    """The webhook view of one platform: GET answers its challenge, POST takes a delivery."""
    platform = platform_for(kind)

    def view(request: HttpRequest, channel: Channel) -> HttpResponse:
        if request.method == "GET":
            return _answer(platform.answer_challenge(_secret(channel, platform.challenge_secret_suffix), request.GET))
        secret = _secret(channel)
        delivery = WebhookRequest(
            headers=request.headers,
            read_body=lambda: request.body,
            content_type=request.content_type or "",
            read_form=lambda: request.POST.dict(),
            account_id=channel.platform_account_id or "",
            channel_name=channel.name,
        )
        platform.verify_webhook(secret, delivery)
        parsed = _parse(lambda: platform.parse_webhook(delivery))
        if isinstance(parsed, WebhookAnswer):
            return _answer(parsed)
        return _accept(channel, parsed, platform.replay_token(delivery))

    view.__name__ = view.__qualname__ = f"{kind}_webhook"
    return _webhook(kind, list(platform.webhook_methods))(view)
