"""What an attacker who holds (or guesses) a CRM secret can send: signed HubSpot requests and canvas posts."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from connectors.hubspot.webhooks import signature_v3


def hubspot_headers(secret: str, method: str, url: str, body: bytes, stamp: int | None = None) -> dict[str, str]:
    """The v3 signature headers HubSpot sends for this request."""
    stamp = int(time.time() * 1000) if stamp is None else stamp
    return {"X-HubSpot-Signature-v3": signature_v3(secret, method, url, body, str(stamp)),
            "X-HubSpot-Request-Timestamp": str(stamp), "Content-Type": "application/json"}


def canvas(secret: str, envelope: dict | str) -> str:
    """A Canvas ``signed_request``: base64 HMAC of the base64 envelope, a dot, the envelope."""
    raw = envelope if isinstance(envelope, str) else json.dumps(envelope)
    encoded = base64.b64encode(raw.encode()).decode()
    signature = base64.b64encode(hmac.new(secret.encode(), encoded.encode(), hashlib.sha256).digest()).decode()
    return f"{signature}.{encoded}"
