"""Sign-in with HubSpot: who the token's user is (portal, user, role), then the sign-in grant is dropped.

The code exchange has already completed the token (``complete_token``: hub_id, user_id, scopes). The
role comes from the settings users API with the same rules as the owners stream
(``owners.settings_users``): super admin → admin, a manager-named role → manager, else rep.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from connectors.errors import ConnectorError
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.mapping import owner_role
from connectors.hubspot.owners import settings_users
from connectors.hubspot.tokens import revoke_refresh_token
from connectors.signin import SignIn, SignInError

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 30.0


def sign_in(oauth: Any, token: dict[str, Any], config: Any,
            kept_refresh_tokens: Callable[[str], set[str]]) -> SignIn:
    """The signing-in HubSpot user and their role; the sign-in's refresh token is deleted after."""
    try:
        return _read_identity(oauth, token, config)
    finally:
        _delete_refresh_token(oauth, token, kept_refresh_tokens)


def _read_identity(oauth: Any, token: dict[str, Any], config: Any) -> SignIn:
    hub_id, user_id = token.get("hub_id"), token.get("user_id")
    if not hub_id or user_id is None:
        raise SignInError("HubSpot did not say which portal and user this sign-in is for.")
    client = HubSpotClient(token, oauth, api_url=config.HUBSPOT_API_URL, verify=oauth.verify,
                           max_attempts=2, timeout=TIMEOUT_SECONDS)
    try:
        user = settings_users(client._timed_call).get(str(user_id))
        owner = _owner(client._timed_call, user_id)
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


def _delete_refresh_token(oauth: Any, token: dict[str, Any], kept_refresh_tokens: Callable[[str], set[str]]) -> None:
    """Best effort: the sign-in only needed the identity, so its refresh token goes back to HubSpot."""
    refresh_token = token.get("refresh_token")
    if not refresh_token or refresh_token in kept_refresh_tokens(str(token.get("hub_id"))):
        # Never delete a refresh token the portal's connection syncs with.
        return
    try:
        if not revoke_refresh_token(oauth, refresh_token):
            log.warning("auth.hubspot.revoke-refused")
    except Exception as exc:  # noqa: BLE001 - best effort; the token is useless without the client secret
        log.warning("auth.hubspot.revoke-failed error=%s", type(exc).__name__)
