"""The OAuth 2.0 web-server flow with authlib, shared by the providers that use it."""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import requests

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
    # The required scopes asked for, when they depend on the configuration (``Provider.requested_scopes``);
    # None: the provider's declared ``scopes``.
    scopes: tuple[str, ...] | None = None

    @property
    def authorize_url(self) -> str:
        return self.base_url.rstrip("/") + self.provider.authorize_path

    @property
    def token_url(self) -> str:
        return (self.token_base_url or self.base_url).rstrip("/") + self.provider.token_path

    def session(self, redirect_uri: str | None = None, token: dict | None = None,
                with_scope: bool = True) -> OAuth2Session:
        """An authlib session for this app, sending its credentials the way the provider takes them."""
        scopes = self.provider.scopes if self.scopes is None else self.scopes
        scope = (" ".join(scopes) or None) if with_scope else None
        session = OAuth2Session(self.client_id, self.client_secret, redirect_uri=redirect_uri, scope=scope,
                                token=token,
                                token_endpoint_auth_method=self.provider.token_endpoint_auth_method)
        session.verify = self.verify
        # An explicit CA file must win over REQUESTS_CA_BUNDLE and friends from the environment.
        session.trust_env = self.verify is True
        hook = _standard_error(self.provider)
        session.register_compliance_hook("access_token_response", hook)
        session.register_compliance_hook("refresh_token_response", hook)
        return session

    def authorization_url(self, redirect_uri: str) -> tuple[str, str]:
        """The consent page URL (optional scopes in their own parameter) and the state to keep."""
        state = secrets.token_urlsafe(24)
        extra = {}
        if self.provider.optional_scopes and self.provider.optional_scope_param:
            extra[self.provider.optional_scope_param] = " ".join(self.provider.optional_scopes)
        url, _ = self.session(redirect_uri).create_authorization_url(self.authorize_url, state=state, **extra)
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
            # No scope on a refresh: the grant keeps what was consented to, optional scopes included.
            fresh = self.session(with_scope=False).refresh_token(self.token_url, refresh_token=refresh_token)
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


def _standard_error(provider: type[Provider]):
    """A compliance hook: a failed token answer in the provider's own shape gets RFC 6749's ``error``.

    authlib recognizes a failure only by that key; without it a 4xx body would be taken for a token.
    """
    def hook(response: requests.Response) -> requests.Response:
        if response.status_code < 400:
            return response
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("error"):
            return response
        body = body if isinstance(body, dict) else {}
        mapped = provider.token_error(response.status_code, body) or (
            f"http_{response.status_code}", str(body.get("message") or response.reason or "")[:300] or None)
        error, description = mapped
        response._content = json.dumps({**body, "error": error, "error_description": description}).encode()
        return response
    return hook


def _stamp(token: dict[str, Any]) -> dict[str, Any]:
    """Record when the token was obtained (providers that send no expires_in rely on 401s)."""
    token.setdefault("obtained_at", int(time.time()))
    token["obtained_at"] = int(time.time())
    return token
