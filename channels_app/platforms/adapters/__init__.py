"""Platform adapters: verify (signatures), parse (to InboundMessage) and send, per platform.

Import the platform modules directly (``from channels_app.adapters import x``); the shared types
are re-exported here.
"""

from channels_app.platforms.adapters.base import (
    AdapterError,
    InboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendResult,
    SignatureError,
)

__all__ = [
    "AdapterError",
    "InboundMessage",
    "PermanentSendError",
    "RetryableSendError",
    "SendError",
    "SendResult",
    "SignatureError",
]
