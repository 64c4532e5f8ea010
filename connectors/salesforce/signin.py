"""Sign-in with Salesforce: who the token's user is (org, user, role), read from the identity URL and the API.

The grant itself is revoked by the console through the provider's ``revoke_path`` once this returns.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from connectors.signin import ROLES, SignIn, SignInError


def sign_in(oauth: Any, token: dict[str, Any], config: Any,
            kept_refresh_tokens: Callable[[str], set[str]]) -> SignIn:
    """Read the Salesforce identity URL (the token's ``id``), then the user's standing through the API."""
    identity_url = token.get("id") or ""
    if urlsplit(identity_url).scheme != "https":
        raise SignInError("Salesforce's answer had no identity URL.")
    http = oauth.session(token=token)
    response = http.get(identity_url, timeout=30)
    if response.status_code != 200:
        raise SignInError(f"Salesforce did not tell Pipewise who you are (HTTP {response.status_code}).")
    info = response.json()
    # The app defines no custom attributes: the role comes from the user's profile, permission sets
    # and place in the hierarchy, which every org has (connectors/salesforce/identity.py).
    role = "rep"
    if token.get("instance_url"):
        role = oauth.provider.user_role(http, token, config.SALESFORCE_API_VERSION)
    return SignIn(provider="salesforce", user_id=info["user_id"], remote_org_id=info["organization_id"],
                  username=info.get("username") or info["user_id"], email=info.get("email"),
                  name=info.get("display_name") or info.get("username") or info["user_id"],
                  role=role if role in ROLES else "rep")
