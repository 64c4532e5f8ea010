"""Salesforce Canvas signed requests: verify the HMAC, then the algorithm, the time and replays."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from datetime import datetime, timezone
from typing import Any

from redis import Redis

DEFAULT_WINDOW_SECONDS = 300
# Clocks disagree a little; a request "from the future" within this margin is still fresh.
CLOCK_SKEW_SECONDS = 30
# A canvas context is a few kilobytes; anything far larger is not Salesforce.
MAX_SIGNED_REQUEST_CHARS = 256 * 1024
REPLAY_KEY_PREFIX = "pipewise:embed:canvas-seen:"


class InvalidSignedRequest(Exception):
    """A signed request that must not be trusted; ``reason`` is a short slug safe to log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def b64decode_any(text: str) -> bytes:
    """Decode standard or URL-safe base64, with or without padding."""
    normalized = text.strip().replace("-", "+").replace("_", "/")
    normalized += "=" * (-len(normalized) % 4)
    return base64.b64decode(normalized.encode("ascii"), validate=True)


def verify_signed_request(signed_request: str, consumer_secret: str, *, redis: Redis,
                          window_seconds: int = DEFAULT_WINDOW_SECONDS,
                          now: float | None = None) -> dict[str, Any]:
    """The envelope of a verified ``<signature>.<envelope>`` request, or InvalidSignedRequest."""
    if not consumer_secret:
        raise InvalidSignedRequest("no-consumer-secret")
    if not isinstance(signed_request, str) or not signed_request or len(signed_request) > MAX_SIGNED_REQUEST_CHARS:
        raise InvalidSignedRequest("malformed")
    signature_text, dot, envelope_text = signed_request.strip().partition(".")
    if not dot or not signature_text or not envelope_text or not envelope_text.isascii():
        raise InvalidSignedRequest("malformed")
    try:
        signature = b64decode_any(signature_text)
    except (binascii.Error, ValueError):
        raise InvalidSignedRequest("malformed-signature") from None

    # The MAC covers the envelope exactly as sent; nothing of it is decoded before this passes.
    expected = hmac.new(consumer_secret.encode("utf-8"), envelope_text.encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise InvalidSignedRequest("bad-signature")

    try:
        envelope = json.loads(b64decode_any(envelope_text).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidSignedRequest("malformed-envelope") from None
    if not isinstance(envelope, dict):
        raise InvalidSignedRequest("malformed-envelope")
    if envelope.get("algorithm") != "HMACSHA256":
        raise InvalidSignedRequest("wrong-algorithm")

    now = time.time() if now is None else now
    issued_at = issued_at_seconds(envelope.get("issuedAt"))
    if issued_at is None:
        raise InvalidSignedRequest("missing-issued-at")
    if issued_at > now + CLOCK_SKEW_SECONDS:
        raise InvalidSignedRequest("issued-in-future")
    if now - issued_at > window_seconds:
        raise InvalidSignedRequest("stale")

    # Keyed on the decoded MAC, so re-encoding the same request in the other alphabet is still a replay.
    key = REPLAY_KEY_PREFIX + hashlib.sha256(signature).hexdigest()
    if not redis.set(key, b"1", nx=True, ex=window_seconds + CLOCK_SKEW_SECONDS):
        raise InvalidSignedRequest("replayed")
    return envelope


def issued_at_seconds(value: Any) -> float | None:
    """``issuedAt`` as epoch seconds: accepts epoch seconds, epoch milliseconds or ISO 8601."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        # Salesforce's other timestamps are milliseconds; seconds are accepted too.
        return value / 1000.0 if value > 10**11 else float(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.lstrip("-").isdigit():
            return issued_at_seconds(int(text))
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()
    return None
