"""Platform adapters: verify (signatures), parse (to InboundMessage) and send, per platform.

Import the platform modules directly (``from channels_app.platforms.adapters import x``), or find one by
channel kind with ``registry.platform_for``; the shared types are re-exported here.
"""

from channels_app.platforms.adapters.base import (
    AdapterError,
    BadDelivery,
    InboundMessage,
    PermanentSendError,
    Platform,
    ReplyContext,
    ReplyTarget,
    RetryableSendError,
    SendError,
    SendResult,
    SignatureError,
    WebhookAnswer,
    WebhookRequest,
)

__all__ = [
    "AdapterError",
    "BadDelivery",
    "InboundMessage",
    "PermanentSendError",
    "Platform",
    "ReplyContext",
    "ReplyTarget",
    "RetryableSendError",
    "SendError",
    "SendResult",
    "SignatureError",
    "WebhookAnswer",
    "WebhookRequest",
]
