"""The OAuth 2.0 web-server flow with authlib, shared by the providers that use it."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client.errors import OAuthError

from connectors.base import Provider
from connectors.errors import ReauthorizationRequired, Retriable, Fatal


@dataclass(frozen=True)
class OAuthApp:
    """One registered app at a provider: where its OAuth endpoints are and its credentials."""

    provider: type[Provider]
    base_url: str          # e.g. https://login.salesforce.com
    client_id: str
    client_secret: str
    verify: str | bool = True
    # Where the token endpoint lives when it is not on the consent host (HubSpot: the API host).
    token_base_url: str | None = None

    @property
    def authorize_url(self) -> str:
        return self.base_url.rstrip("/") + self.provider.authorize_path

    @property
    def token_url(self) -> str:
        return (self.token_base_url or self.base_url).rstrip("/") + self.provider.token_path

    def session(self, redirect_uri: str | None = None, token: dict | None = None) -> OAuth2Session:
        """An authlib session for this app."""
        session = OAuth2Session(self.client_id, self.client_secret, redirect_uri=redirect_uri,
                                scope=" ".join(self.provider.scopes) or None, token=token)
        session.verify = self.verify
        # An explicit CA file must win over REQUESTS_CA_BUNDLE and friends from the environment.
        session.trust_env = self.verify is True
        return session

    def authorization_url(self, redirect_uri: str) -> tuple[str, str]:
        """The consent page URL and the state to keep in the admin's session."""
        state = secrets.token_urlsafe(24)
        url, _ = self.session(redirect_uri).create_authorization_url(self.authorize_url, state=state)
        return url, state

    def exchange_code(self, code: str, redirect_uri: str) -> dict[str, Any]:
        """Trade an authorization code for a token set."""
        try:
            token = self.session(redirect_uri).fetch_token(
                self.token_url, grant_type="authorization_code", code=code)
        except OAuthError as exc:
            raise Fatal(f"{self.provider.name} refused the authorization code "
                        f"({exc.error}: {exc.description}). Start the connection again.") from exc
        return self.provider.complete_token(_stamp(dict(token)), self)

    def refresh(self, token: dict[str, Any]) -> dict[str, Any]:
        """A fresh access token; keeps the refresh token when the provider sends none."""
        refresh_token = token.get("refresh_token")
        if not refresh_token:
            raise ReauthorizationRequired(
                f"The {self.provider.name} connection has no refresh token. Re-authorize it.")
        try:
            fresh = self.session().refresh_token(self.token_url, refresh_token=refresh_token)
        except OAuthError as exc:
            if exc.error in ("invalid_grant", "invalid_client", "unauthorized_client"):
                raise ReauthorizationRequired(
                    f"{self.provider.name} no longer accepts Pipewise's authorization "
                    f"({exc.description or exc.error}). An admin must re-authorize the connection.",
                    code=exc.error) from exc
            raise Retriable(f"{self.provider.name} token refresh failed: {exc.error}") from exc
        except OSError as exc:
            raise Retriable(f"{self.provider.name} could not be reached to refresh the token: {exc}") from exc
        merged = dict(token)
        merged.update({k: v for k, v in dict(fresh).items() if v is not None})
        return _stamp(merged)


def _stamp(token: dict[str, Any]) -> dict[str, Any]:
    """Record when the token was obtained (providers that send no expires_in rely on 401s)."""
    token.setdefault("obtained_at", int(time.time()))
    token["obtained_at"] = int(time.time())
    return token
