"""Salesforce Canvas signed requests: verify the HMAC and the algorithm, then tell a reload from a replay.

What the Canvas Developer Guide shows, and what this module therefore relies on or not:
- ``signed_request`` is ``<base64 HMAC-SHA256 of the envelope with the app's consumer secret>.<base64
  JSON>``; each Canvas app signs with its own secret (the rep panel and the team panel are two apps).
- ``issuedAt`` is for Salesforce's internal use (the guide's own example sends null): it is not read.
- A reload of the page posts the same signed request again while the user's session lasts, so a
  signed request seen before is not refused on sight. Within the window of its first use it opens
  the panel again; after that, only if Salesforce still calls the OAuth token inside it active
  (token introspection with the app's credentials), which a stolen, replayed request from a session
  that ended is not.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import requests
from redis import Redis

from connectors.panels import InvalidPanelRequest

log = logging.getLogger(__name__)

DEFAULT_WINDOW_SECONDS = 300
# A canvas context is a few kilobytes; anything far larger is not Salesforce.
MAX_SIGNED_REQUEST_CHARS = 256 * 1024
REPLAY_KEY_PREFIX = "pipewise:embed:canvas-seen:"
# A Salesforce session lasts at most 24 hours (Session Settings); no signed request outlives it.
MAX_SESSION_SECONDS = 24 * 3600


def b64decode_any(text: str) -> bytes:
    """Decode standard or URL-safe base64, with or without padding."""
    normalized = text.strip().replace("-", "+").replace("_", "/")
    normalized += "=" * (-len(normalized) % 4)
    return base64.b64decode(normalized.encode("ascii"), validate=True)


def verify_signed_request(signed_request: str, consumer_secret: str, *, redis: Redis,
                          window_seconds: int = DEFAULT_WINDOW_SECONDS, now: float | None = None,
                          session_is_live: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """The envelope of a verified ``<signature>.<envelope>`` request, or InvalidPanelRequest."""
    if not consumer_secret:
        raise InvalidPanelRequest("no-consumer-secret")
    if not isinstance(signed_request, str) or not signed_request or len(signed_request) > MAX_SIGNED_REQUEST_CHARS:
        raise InvalidPanelRequest("malformed")
    signature_text, dot, envelope_text = signed_request.strip().partition(".")
    if not dot or not signature_text or not envelope_text or not envelope_text.isascii():
        raise InvalidPanelRequest("malformed")
    try:
        signature = b64decode_any(signature_text)
    except (binascii.Error, ValueError):
        raise InvalidPanelRequest("malformed-signature") from None

    # The MAC covers the envelope exactly as sent; nothing of it is decoded before this passes.
    expected = hmac.new(consumer_secret.encode("utf-8"), envelope_text.encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise InvalidPanelRequest("bad-signature")

    try:
        envelope = json.loads(b64decode_any(envelope_text).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidPanelRequest("malformed-envelope") from None
    if not isinstance(envelope, dict):
        raise InvalidPanelRequest("malformed-envelope")
    if envelope.get("algorithm") != "HMACSHA256":
        raise InvalidPanelRequest("wrong-algorithm")
    _not_replayed(signature, envelope, redis, window_seconds, time.time() if now is None else now, session_is_live)
    return envelope


def _not_replayed(signature: bytes, envelope: dict[str, Any], redis: Redis, window_seconds: int, now: float,
                  session_is_live: Callable[[dict[str, Any]], bool] | None) -> None:
    """Accept a first use and a reload within the window; an older repeat only with a live Salesforce session."""
    # Keyed on the decoded MAC, so re-encoding the same request in the other alphabet is the same request.
    key = REPLAY_KEY_PREFIX + hashlib.sha256(signature).hexdigest()
    if redis.set(key, repr(now), nx=True, ex=MAX_SESSION_SECONDS):
        return
    try:
        first_seen = float(redis.get(key) or now)
    except ValueError:
        first_seen = 0.0
    if now - first_seen <= window_seconds:
        return
    if session_is_live is None or not session_is_live(envelope):
        raise InvalidPanelRequest("replayed")
    redis.set(key, repr(now), ex=MAX_SESSION_SECONDS)  # confirmed: reloads in the next window need no call


def oauth_token(envelope: dict[str, Any]) -> str | None:
    """The user's OAuth token inside the signed request (client.oauthToken)."""
    client = envelope.get("client")
    token = client.get("oauthToken") if isinstance(client, dict) else None
    return token if isinstance(token, str) and token else None


def introspect(instance_url: str, client_id: str, client_secret: str, envelope: dict[str, Any],
               user_id: str, verify: str | bool = True) -> bool:
    """Whether Salesforce calls the envelope's OAuth token active and issued to this user.

    Token introspection (Salesforce Help, "OAuth 2.0 Token Introspection"): an app may look at the
    tokens issued to it with its own consumer key and secret.
    """
    token = oauth_token(envelope)
    if not token or not instance_url:
        return False
    try:
        answer = requests.post(f"{instance_url.rstrip('/')}/services/oauth2/introspect", timeout=15, verify=verify,
                               data={"token": token, "token_type_hint": "access_token", "client_id": client_id,
                                     "client_secret": client_secret})
        body = answer.json() if answer.status_code == 200 else {}
    except (requests.RequestException, ValueError) as exc:
        log.warning("salesforce.canvas.introspection-failed error=%s", type(exc).__name__)
        return False
    # sub is the user's identity URL (…/id/<org>/<user>); ids compare on their case-sensitive 15 characters.
    subject_user = str(body.get("sub") or "").rstrip("/").rpartition("/")[2]
    return body.get("active") is True and bool(user_id) and subject_user[:15] == user_id[:15]
