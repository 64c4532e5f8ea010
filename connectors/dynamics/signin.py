"""Sign-in with Dynamics 365: who signs in from the id_token's claims, the organization from WhoAmI, and the
role from the user's security roles.

Sources: id-token-claims-reference (oid, name, preferred_username, tid), webapi/reference/whoami.md, and the
systemuserroles_association relationship of systemuser (reference/entities/systemuser.md): a user holding the
"System Administrator" role administers the environment (security/security-roles-privileges.md).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.dynamics.client import DynamicsClient
from connectors.dynamics.provider import environment_url, jwt_claims
from connectors.errors import ConnectorError
from connectors.signin import SignIn, SignInError

ADMIN_ROLES = {"system administrator"}
MANAGER_ROLES = {"sales manager", "vice president of sales"}


def role_from(names: list[str]) -> str:
    """admin, manager or rep from the names of the user's security roles."""
    lowered = {n.strip().lower() for n in names}
    if lowered & ADMIN_ROLES:
        return "admin"
    return "manager" if lowered & MANAGER_ROLES else "rep"


def sign_in(oauth: Any, token: dict[str, Any], config: Any,
            kept_refresh_tokens: Callable[[str], set[str]]) -> SignIn:
    """The signing-in user from the id_token, their organization (WhoAmI) and role (security roles)."""
    claims = jwt_claims(token.get("id_token"))
    if not claims.get("oid"):
        raise SignInError("Microsoft did not say who you are: the sign-in answer had no id_token.")
    api_url = environment_url(token)
    if not api_url:
        raise SignInError("Microsoft's answer named no Dynamics 365 environment: sign in again from Pipewise.")
    client = DynamicsClient(token, oauth, api_url=api_url, verify=oauth.verify, max_attempts=2, timeout=30)
    try:
        who = client.who_am_i()
        roles = client.get_json(f"systemusers({who['UserId']})/systemuserroles_association?$select=name")
    except ConnectorError as exc:
        raise SignInError(f"Dynamics 365 did not tell Pipewise who you are ({exc}).") from exc
    username = claims.get("preferred_username") or claims.get("upn") or claims["oid"]
    return SignIn(provider="dynamics", user_id=str(who["UserId"]), remote_org_id=str(who["OrganizationId"]),
                  username=username, email=claims.get("email") or (username if "@" in username else None),
                  name=claims.get("name") or username,
                  role=role_from([r.get("name") or "" for r in roles.get("value", [])]))
