"""The team panel's token and its forms' csrf_token: the frame's requests carry them instead of cookies.

A manager panel token names the viewer (organization, connection, CRM user, role) and lives as long as a
rep panel token; it has its own salt, so neither opens the other's panel. A form's csrf_token is bound to
the panel token the form was rendered with.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

TOKEN_SALT = "pipewise.embed.manager-token"
CSRF_CONTEXT = b"pipewise.embed.manager-form|"


@dataclass(frozen=True)
class ManagerClaims:
    """Who is looking at the team panel, as a verified signed request (or the HubSpot card) said."""

    organization_id: int
    connection_id: int
    user_remote_id: str
    role: str


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    # Its own salt: a rep panel token never opens the team panel, nor the reverse.
    return URLSafeTimedSerializer(secret_key, salt=TOKEN_SALT)


def mint_manager_token(secret_key: str, organization_id: int, connection_id: int, user_remote_id: str,
                       role: str) -> str:
    """A short-lived token for `GET /embed/manager?pt=…` (the HubSpot card's iframe link)."""
    claims = ManagerClaims(organization_id, connection_id, user_remote_id, role)
    return _serializer(secret_key).dumps(asdict(claims))


def read_manager_token(secret_key: str, token: str | None, max_age: int) -> ManagerClaims | None:
    """The claims of a valid token, or None (missing, forged, malformed or expired)."""
    if not token:
        return None
    try:
        return ManagerClaims(**_serializer(secret_key).loads(token, max_age=max_age))
    except (BadSignature, SignatureExpired, TypeError):
        return None


def csrf_token(token: str) -> str:
    """The form's csrf_token, bound to the panel token the form was rendered with."""
    key = current_app.secret_key.encode() if isinstance(current_app.secret_key, str) else current_app.secret_key
    return hmac.new(key, CSRF_CONTEXT + token.encode(), hashlib.sha256).hexdigest()


def csrf_valid(token: str, submitted: str | None) -> bool:
    """Whether a submitted csrf_token matches the panel token (constant time)."""
    return bool(submitted) and hmac.compare_digest(csrf_token(token), submitted)
