"""OAuth tokens of the sandbox: authorization codes in memory, access and refresh tokens on disk."""
from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass

from connectors.sandbox_kit.token_table import TokenTable

from .store import Store


@dataclass
class Grant:
    """What an authorization code or a token stands for."""

    user_id: str
    client_id: str
    scope: str
    redirect_uri: str = ""
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    expires_at: float = 0.0


class TokenStore(TokenTable):
    """Issues, checks, expires and revokes tokens."""

    table = "_tokens"

    def __init__(self, store: Store, org_id: str):
        super().__init__(store)
        self.org_id = org_id

    def _new_code(self) -> str:
        return "aPrx" + secrets.token_urlsafe(32)

    @staticmethod
    def pkce_ok(grant: Grant, verifier: str | None) -> bool:
        """Check a PKCE code_verifier against the challenge sent to authorize."""
        if not grant.code_challenge:
            return True
        if not verifier:
            return False
        if (grant.code_challenge_method or "plain").upper() == "S256":
            digest = hashlib.sha256(verifier.encode()).digest()
            return secrets.compare_digest(base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
                                          grant.code_challenge)
        return secrets.compare_digest(verifier, grant.code_challenge)

    def issue_access(self, user_id: str, client_id: str, scope: str, ttl_seconds: float,
                     parent: str | None = None) -> tuple[str, float]:
        """A new access token and its issue time (epoch seconds)."""
        token = f"{self.org_id[:15]}!AQ" + secrets.token_urlsafe(72)
        issued = time.time()
        self.store.execute("INSERT INTO _tokens VALUES (?, 'access', ?, ?, ?, ?, ?, 0, ?)",
                           (token, user_id, client_id, scope, issued, issued + ttl_seconds, parent))
        return token, issued

    def issue_refresh(self, user_id: str, client_id: str, scope: str) -> str:
        """A new refresh token; it lives until revoked."""
        token = "5Aep861" + secrets.token_urlsafe(60)
        self.store.execute("INSERT INTO _tokens VALUES (?, 'refresh', ?, ?, ?, ?, NULL, 0, NULL)",
                           (token, user_id, client_id, scope, time.time()))
        return token

    def lookup(self, token: str, kind: str) -> Grant | None:
        """The grant of a live token of this kind, or None."""
        rows = self.store.fetchall("SELECT user_id, client_id, scope, expires_at, revoked FROM _tokens "
                                   "WHERE token = ? AND kind = ?", (token, kind))
        if not rows:
            return None
        user_id, client_id, scope, expires_at, revoked = rows[0]
        if revoked or (expires_at is not None and expires_at <= time.time()):
            return None
        return Grant(user_id, client_id, scope or "")

    def times(self, token: str) -> tuple[float, float | None]:
        """When a token was issued and when it expires (None: until revoked)."""
        rows = self.store.fetchall("SELECT issued_at, expires_at FROM _tokens WHERE token = ?", (token,))
        return rows[0] if rows else (0.0, None)
