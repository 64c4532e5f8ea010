"""Short-lived panel tokens: the frame's own requests carry one instead of a third-party cookie.

A rep panel token names one record's panel; a manager panel token names a team panel's viewer, and the
team panel's forms carry a csrf_token bound to it. Each kind has its own salt, so neither opens the other.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass

from flask import Request, current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "pipewise.embed.panel-token"
DEFAULT_MAX_AGE_SECONDS = 15 * 60


class InvalidPanelToken(Exception):
    """A missing, forged or expired panel token; ``reason`` is a short slug safe to log."""

    def __init__(self, reason: str, expired_claims: "PanelClaims | None" = None):
        super().__init__(reason)
        self.reason = reason
        # Set only for a genuine token that is past its age: who it was for, to word the refusal.
        self.expired_claims = expired_claims


@dataclass(frozen=True)
class PanelClaims:
    """Who may see which record's panel, as established by a verified signed request."""

    organization_id: int
    connection_id: int
    user_remote_id: str
    role: str
    object_type: str
    remote_id: str


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def issue_panel_token(secret_key: str, claims: PanelClaims) -> str:
    """A signed, timestamped token carrying the claims."""
    return _serializer(secret_key).dumps(asdict(claims))


def read_panel_token(secret_key: str, token: str | None,
                     max_age: int = DEFAULT_MAX_AGE_SECONDS) -> PanelClaims:
    """The claims of a valid token, or InvalidPanelToken."""
    if not token:
        raise InvalidPanelToken("missing")
    serializer = _serializer(secret_key)
    try:
        return _claims(serializer.loads(token, max_age=max_age))
    except SignatureExpired as exc:
        try:
            claims = _claims(serializer.load_payload(exc.payload)) if exc.payload is not None else None
        except (BadSignature, InvalidPanelToken):
            claims = None
        raise InvalidPanelToken("expired", expired_claims=claims) from None
    except BadSignature:
        raise InvalidPanelToken("bad-signature") from None


def _claims(data: object) -> PanelClaims:
    if not isinstance(data, dict):
        raise InvalidPanelToken("malformed")
    try:
        return PanelClaims(**data)
    except TypeError:
        raise InvalidPanelToken("malformed") from None


def token_from_request(request: Request) -> str | None:
    """The token from ``?pt=`` or an ``Authorization: Bearer`` header."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.args.get("pt") or None


# -- the team panel ----------------------------------------------------------------------------------

MANAGER_SALT = "pipewise.embed.manager-token"
CSRF_CONTEXT = b"pipewise.embed.manager-form|"


@dataclass(frozen=True)
class ManagerClaims:
    """Who is looking at the team panel, as a verified signed request (or the HubSpot card) said."""

    organization_id: int
    connection_id: int
    user_remote_id: str
    role: str


def _manager_serializer(secret_key: str) -> URLSafeTimedSerializer:
    # Its own salt: a rep panel token never opens the team panel, nor the reverse.
    return URLSafeTimedSerializer(secret_key, salt=MANAGER_SALT)


def mint_manager_token(secret_key: str, organization_id: int, connection_id: int, user_remote_id: str,
                       role: str) -> str:
    """A short-lived token for `GET /embed/manager?pt=…` (the HubSpot card's iframe link)."""
    claims = ManagerClaims(organization_id, connection_id, user_remote_id, role)
    return _manager_serializer(secret_key).dumps(asdict(claims))


def read_manager_token(secret_key: str, token: str | None, max_age: int) -> ManagerClaims | None:
    """The claims of a valid token, or None (missing, forged, malformed or expired)."""
    if not token:
        return None
    try:
        return ManagerClaims(**_manager_serializer(secret_key).loads(token, max_age=max_age))
    except (BadSignature, SignatureExpired, TypeError):
        return None


def csrf_token(token: str) -> str:
    """The form's csrf_token, bound to the panel token the form was rendered with."""
    key = current_app.secret_key.encode() if isinstance(current_app.secret_key, str) else current_app.secret_key
    return hmac.new(key, CSRF_CONTEXT + token.encode(), hashlib.sha256).hexdigest()


def csrf_valid(token: str, submitted: str | None) -> bool:
    """Whether a submitted csrf_token matches the panel token (constant time)."""
    return bool(submitted) and hmac.compare_digest(csrf_token(token), submitted)
