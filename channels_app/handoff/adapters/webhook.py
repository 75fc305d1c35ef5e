"""A generic signed JSON webhook: any system that takes a POST.

The body is JSON ({"id", "event": "handoff", "reference", "platform", "name", "email", "message",
"transcript"}); X-Dusk-Timestamp carries the Unix time and X-Dusk-Signature
"sha256=<hex HMAC-SHA256 of '<timestamp>.' + body>" with the shared secret; Idempotency-Key repeats
"id" (the same on every attempt), so a receiver drops a resend. A receiver must refuse a timestamp
older than a few minutes. Nothing can be looked up: a resend after no answer relies on the
Idempotency-Key. The same signature signs the arrivals Dusk receives (`verify`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from channels_app.handoff.adapters import Handoff, call

TIMESTAMP_HEADER = "X-Dusk-Timestamp"
SIGNATURE_HEADER = "X-Dusk-Signature"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, given: str, *, now: float, tolerance: float) -> bool:
    """Whether `given` signs `body` at `timestamp` with `secret` (constant-time compare), and the
    timestamp is within `tolerance` seconds of `now` (no replay of an old request)."""
    if not secret or not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), given or "")


def send(client: httpx.Client, url: str, credential: str, handoff: Handoff) -> str:
    body = json.dumps(
        {
            "id": handoff.delivery_id,
            "event": "handoff",
            "reference": handoff.reference,
            "platform": handoff.platform,
            "name": handoff.name,
            "email": handoff.email,
            "message": handoff.message,
            "transcript": handoff.transcript,
        }
    ).encode()
    timestamp = str(int(time.time()))
    response = call(
        client,
        "webhook",
        "POST",
        url,
        content=body,
        headers={
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(credential, timestamp, body),
            "Idempotency-Key": handoff.delivery_id,
            "User-Agent": "Dusk",
        },
    )
    try:
        answer = response.json()
        return str(answer.get("id") or handoff.delivery_id)[:64]
    except (ValueError, AttributeError):
        return handoff.delivery_id


def find(client: httpx.Client, url: str, credential: str, handoff: Handoff) -> str | None:
    return None
