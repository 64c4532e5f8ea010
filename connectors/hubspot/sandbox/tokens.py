"""OAuth tokens: authorization codes in memory, access and refresh tokens on disk."""
from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass

from connectors.sandbox_kit.token_table import TokenTable


@dataclass
class Grant:
    """What an authorization code or a token stands for."""

    user_id: int
    client_id: str
    scope: str
    redirect_uri: str = ""
    expires_at: float | None = None
    revoked: bool = False


class TokenStore(TokenTable):
    """Issues, checks, expires and revokes tokens."""

    def _new_code(self) -> str:
        return str(uuid.uuid4())

    def issue_access(self, user_id: int, client_id: str, scope: str, ttl_seconds: float,
                     parent: str | None = None) -> str:
        """A new access token."""
        token = "CP" + secrets.token_urlsafe(96)
        issued = time.time()
        self.store.execute("INSERT INTO tokens VALUES (?, 'access', ?, ?, ?, ?, ?, 0, ?)",
                           (token, user_id, client_id, scope, issued, issued + ttl_seconds, parent))
        return token

    def issue_refresh(self, user_id: int, client_id: str, scope: str) -> str:
        """A new refresh token (a UUID, as HubSpot's are); it lives until revoked."""
        token = str(uuid.uuid4())
        self.store.execute("INSERT INTO tokens VALUES (?, 'refresh', ?, ?, ?, ?, NULL, 0, NULL)",
                           (token, user_id, client_id, scope, time.time()))
        return token

    def find(self, token: str, kind: str) -> Grant | None:
        """The grant of a token of this kind, live or not; None when unknown."""
        rows = self.store.fetchall("SELECT user_id, client_id, scope, expires_at, revoked FROM tokens "
                                   "WHERE token = ? AND kind = ?", (token, kind))
        if not rows:
            return None
        user_id, client_id, scope, expires_at, revoked = rows[0]
        return Grant(user_id, client_id, scope or "", expires_at=expires_at, revoked=bool(revoked))

    def lookup(self, token: str, kind: str) -> Grant | None:
        """The grant of a live token of this kind, or None."""
        grant = self.find(token, kind)
        if grant is None or grant.revoked or (grant.expires_at is not None and grant.expires_at <= time.time()):
            return None
        return grant
