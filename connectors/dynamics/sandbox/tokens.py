"""Authorization codes, access tokens and refresh tokens of the environment's Entra ID tenant."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from connectors.sandbox_kit.token_table import TokenTable

REFRESH_TTL_SECONDS = 90 * 86400  # refresh tokens: 90 days (Entra ID's documented default lifetime)


@dataclass
class Grant:
    """What a user consented to on the authorize page, waiting in an authorization code."""

    user_id: str
    client_id: str
    scope: str
    redirect_uri: str
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    expires_at: float | None = None


class Tokens(TokenTable):
    """Opaque bearer tokens (clients must not read Entra access tokens) kept in the tokens table."""

    def _new_code(self) -> str:
        return "0.A" + secrets.token_urlsafe(48)

    def issue(self, user_id: str, client_id: str, scope: str, ttl: float, refresh: bool,
              parent: str | None = None) -> tuple[str, str | None]:
        """An access token (and a refresh token when refresh) for user; returns both."""
        access = "eyJ0" + secrets.token_urlsafe(64)
        now = time.time()
        rows = [(access, "access", user_id, client_id, scope, now + ttl, 0, parent)]
        refresh_token = None
        if refresh:
            refresh_token = "0.A" + secrets.token_urlsafe(96)
            rows.append((refresh_token, "refresh", user_id, client_id, scope, now + REFRESH_TTL_SECONDS, 0, None))
            rows[0] = (access, "access", user_id, client_id, scope, now + ttl, 0, refresh_token)
        self.store.executemany("INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return access, refresh_token

    def find(self, token: str, kind: str) -> dict | None:
        """The live token row (user_id, client_id, scope) or None when unknown, revoked or expired."""
        rows = self.store.fetchall("SELECT user_id, client_id, scope, expires_at, revoked FROM tokens "
                                   "WHERE token = ? AND kind = ?", (token, kind))
        if not rows or rows[0][4] or rows[0][3] < time.time():
            return None
        return {"user_id": rows[0][0], "client_id": rows[0][1], "scope": rows[0][2]}
