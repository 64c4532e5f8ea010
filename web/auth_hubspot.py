"""Sign-in with HubSpot: who the token's user is (portal, user, role), then the sign-in grant is dropped.

The code exchange has already completed the token (``complete_token``: hub_id, user_id, scopes). The
role comes from the settings users API with the same rules as the owners stream
(``connectors.hubspot.owners``): super admin → admin, a manager-named role → manager, else rep.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from connectors.errors import ConnectorError
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.tokens import revoke_refresh_token
from connectors.hubspot.mapping import owner_role
from connectors.hubspot.owners import settings_users
from sync.config import Config
from sync.connections import oauth_app
from sync.models import Connection
from web.auth import SignIn, SignInError
from web.extensions import runtime

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 30.0


def hubspot_identity(config: Config, token: dict[str, Any]) -> SignIn:
    """The signing-in HubSpot user and their role; the sign-in's refresh token is deleted after."""
    try:
        return _read_identity(config, token)
    finally:
        _delete_refresh_token(config, token)


def _read_identity(config: Config, token: dict[str, Any]) -> SignIn:
    hub_id, user_id = token.get("hub_id"), token.get("user_id")
    if not hub_id or user_id is None:
        raise SignInError("HubSpot did not say which portal and user this sign-in is for.")
    oauth = oauth_app(config, "hubspot")
    client = HubSpotClient(token, oauth, api_url=config.HUBSPOT_API_URL, verify=oauth.verify,
                           max_attempts=2, timeout=TIMEOUT_SECONDS)

    def call(api: str, fn):
        # The client's retrying, refreshing call, shaped as connectors.hubspot.owners expects it.
        return client._call(api, lambda a: fn(a, TIMEOUT_SECONDS))

    try:
        user = settings_users(call).get(str(user_id))
        owner = _owner(call, user_id)
    except ConnectorError as exc:
        raise SignInError(f"HubSpot did not tell Pipewise who you are ({exc}).") from exc
    if user is None:
        # settings_users is empty when the users scope is missing: no role can be read, so no sign-in.
        raise SignInError("HubSpot did not tell Pipewise your role: the app may lack the settings.users.read "
                          "scope, or you are not an active user of this portal.")
    email = token.get("user") or user.get("email")
    names = owner or user
    name = " ".join(p for p in (names.get("firstName"), names.get("lastName")) if p) or email or str(user_id)
    return SignIn(provider="hubspot", user_id=str(user_id), remote_org_id=str(hub_id),
                  username=email or str(user_id), email=email, name=name, role=owner_role({"user": user}))


def _owner(call, user_id: Any) -> dict[str, Any] | None:
    """The user's CRM owner (for the name); None when the user owns no records."""
    try:
        return call("owners", lambda api, timeout: api.get_by_id(
            str(user_id), id_property="userId", _preload_content=False, _request_timeout=timeout))
    except ConnectorError:
        return None


def _delete_refresh_token(config: Config, token: dict[str, Any]) -> None:
    """Best effort: the sign-in only needed the identity, so its refresh token goes back to HubSpot."""
    refresh_token = token.get("refresh_token")
    if not refresh_token or refresh_token in _connection_refresh_tokens(token):
        # Never delete a refresh token the portal's connection syncs with.
        return
    try:
        if not revoke_refresh_token(oauth_app(config, "hubspot"), refresh_token):
            log.warning("auth.hubspot.revoke-refused")
    except Exception as exc:  # noqa: BLE001 - best effort; the token is useless without the client secret
        log.warning("auth.hubspot.revoke-failed error=%s", type(exc).__name__)


def _connection_refresh_tokens(token: dict[str, Any]) -> set[str]:
    """The refresh tokens stored on this portal's connections."""
    rt = runtime()
    with rt.sessions() as db:
        ciphertexts = db.scalars(select(Connection.token_ciphertext).where(
            Connection.provider == "hubspot", Connection.remote_org_id == str(token.get("hub_id")))).all()
    found = set()
    for ciphertext in ciphertexts:
        try:
            found.add(rt.cipher.decrypt_json(ciphertext).get("refresh_token"))
        except Exception:  # noqa: BLE001 - an unreadable token is no reason to keep the sign-in's
            continue
    return found
