"""HubSpot request signatures: v1 and v2 (hex SHA-256) and v3 (base64 HMAC-SHA256 with a timestamp)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

# HubSpot signs v3 over the URI with these escapes decoded (its documented list); receivers decode the same.
DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
           "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


def signed_uri(uri: str) -> str:
    """The URI as HubSpot's v3 signature covers it."""
    for escape, character in DECODED.items():
        uri = uri.replace(escape, character).replace(escape.lower(), character)
    return uri


def signature_v1(secret: str, body: str) -> str:
    """hex SHA-256 of client secret + body."""
    return hashlib.sha256(f"{secret}{body}".encode()).hexdigest()


def signature_v2(secret: str, method: str, uri: str, body: str) -> str:
    """hex SHA-256 of client secret + method + URI + body."""
    return hashlib.sha256(f"{secret}{method}{uri}{body}".encode()).hexdigest()


def signature_v3(secret: str, method: str, uri: str, body: str, timestamp: str) -> str:
    """base64 HMAC-SHA256 (key: client secret) of method + URI + body + timestamp."""
    digest = hmac.new(secret.encode(), f"{method}{uri}{body}{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_headers(secret: str, method: str, uri: str, body: str, legacy: str | None = "v1") -> dict[str, str]:
    """The headers HubSpot sends: v3 with its timestamp, plus the legacy v1 (webhooks) or v2 signature if asked."""
    timestamp = str(int(time.time() * 1000))
    headers = {"X-HubSpot-Signature-v3": signature_v3(secret, method, signed_uri(uri), body, timestamp),
               "X-HubSpot-Request-Timestamp": timestamp}
    if legacy:
        legacy_value = signature_v1(secret, body) if legacy == "v1" else signature_v2(secret, method, uri, body)
        headers.update({"X-HubSpot-Signature": legacy_value, "X-HubSpot-Signature-Version": legacy})
    return headers
