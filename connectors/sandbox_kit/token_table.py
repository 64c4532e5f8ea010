"""OAuth codes kept in memory and tokens kept in a sandbox's SQLite tokens table: issuing codes, revoking."""
from __future__ import annotations

import threading
import time
from typing import Any

CODE_TTL_SECONDS = 600


class TokenTable:
    """Single-use codes, and revocation and early expiry over store's tokens table (named by the subclass)."""

    table = "tokens"

    def __init__(self, store: Any):
        self.store = store
        self._codes: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _new_code(self) -> str:
        """A fresh authorization code in the CRM's format."""
        raise NotImplementedError

    def issue_code(self, grant: Any) -> str:
        """A single-use authorization code for grant, valid ten minutes."""
        code = self._new_code()
        grant.expires_at = time.time() + CODE_TTL_SECONDS
        with self._lock:
            self._codes[code] = grant
        return code

    def redeem_code(self, code: str) -> Any | None:
        """The grant behind a code, once; None when unknown, used or expired."""
        with self._lock:
            grant = self._codes.pop(code, None)
        if grant is None or (grant.expires_at or 0) < time.time():
            return None
        return grant

    def revoke(self, token: str) -> bool:
        """Revoke one token; a refresh token takes the access tokens minted with it along."""
        with self.store.transaction():
            changed = self.store.execute(f"UPDATE {self.table} SET revoked = 1 WHERE token = ?", (token,))
            self.store.execute(f"UPDATE {self.table} SET revoked = 1 WHERE parent = ?", (token,))
        return changed > 0

    def expire_access_tokens(self) -> int:
        """End every access token now (early expiry)."""
        return self.store.execute(f"UPDATE {self.table} SET expires_at = ? WHERE kind = 'access' AND revoked = 0",
                                  (time.time(),))

    def revoke_all(self) -> int:
        """Revoke every token, as an admin removing the app would."""
        return self.store.execute(f"UPDATE {self.table} SET revoked = 1 WHERE revoked = 0")
