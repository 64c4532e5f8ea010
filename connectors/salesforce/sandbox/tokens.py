"""OAuth tokens of the sandbox: authorization codes in memory, access and refresh tokens on disk."""
from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from .store import Store

CODE_TTL_SECONDS = 600


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


class TokenStore:
    """Issues, checks, expires and revokes tokens."""

    def __init__(self, store: Store, org_id: str):
        self.store = store
        self.org_id = org_id
        self._codes: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def issue_code(self, grant: Grant) -> str:
        """A single-use authorization code, valid ten minutes."""
        code = "aPrx" + secrets.token_urlsafe(32)
        grant.expires_at = time.time() + CODE_TTL_SECONDS
        with self._lock:
            self._codes[code] = grant
        return code

    def redeem_code(self, code: str) -> Grant | None:
        """The grant behind a code, once; None when unknown, used or expired."""
        with self._lock:
            grant = self._codes.pop(code, None)
        if grant is None or grant.expires_at < time.time():
            return None
        return grant

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

    def revoke(self, token: str) -> bool:
        """Revoke one token; a refresh token takes its access tokens with it."""
        with self.store.transaction():
            changed = self.store.execute("UPDATE _tokens SET revoked = 1 WHERE token = ?", (token,))
            self.store.execute("UPDATE _tokens SET revoked = 1 WHERE parent = ?", (token,))
        return changed > 0

    def expire_access_tokens(self) -> int:
        """End every access token now (early expiry)."""
        return self.store.execute("UPDATE _tokens SET expires_at = ? WHERE kind = 'access' AND revoked = 0",
                                  (time.time(),))

    def revoke_all(self) -> int:
        """Revoke every token, as an admin revoking the connected app would."""
        return self.store.execute("UPDATE _tokens SET revoked = 1 WHERE revoked = 0")
