"""OAuth tokens: authorization codes in memory, access and refresh tokens on disk."""
from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass

from .store import Store

CODE_TTL_SECONDS = 600


@dataclass
class Grant:
    """What an authorization code or a token stands for."""

    user_id: int
    client_id: str
    scope: str
    redirect_uri: str = ""
    expires_at: float | None = None
    revoked: bool = False


class TokenStore:
    """Issues, checks, expires and revokes tokens."""

    def __init__(self, store: Store):
        self.store = store
        self._codes: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def issue_code(self, grant: Grant) -> str:
        """A single-use authorization code, valid ten minutes."""
        code = str(uuid.uuid4())
        grant.expires_at = time.time() + CODE_TTL_SECONDS
        with self._lock:
            self._codes[code] = grant
        return code

    def redeem_code(self, code: str) -> Grant | None:
        """The grant behind a code, once; None when unknown, used or expired."""
        with self._lock:
            grant = self._codes.pop(code, None)
        if grant is None or (grant.expires_at or 0) < time.time():
            return None
        return grant

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

    def revoke(self, token: str) -> bool:
        """Revoke a refresh token and the access tokens minted with it."""
        with self.store.transaction():
            changed = self.store.execute("UPDATE tokens SET revoked = 1 WHERE token = ?", (token,))
            self.store.execute("UPDATE tokens SET revoked = 1 WHERE parent = ?", (token,))
        return changed > 0

    def expire_access_tokens(self) -> int:
        """End every access token now (early expiry)."""
        return self.store.execute("UPDATE tokens SET expires_at = ? WHERE kind = 'access' AND revoked = 0",
                                  (time.time(),))

    def revoke_all(self) -> int:
        """Revoke every token, as an admin uninstalling the app would."""
        return self.store.execute("UPDATE tokens SET revoked = 1 WHERE revoked = 0")
