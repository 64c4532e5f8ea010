"""Dynamics 365 (Dataverse Web API v9.2) declared: Entra ID endpoints, streams, and the columns Pipewise writes."""
from __future__ import annotations

import base64
import json
from typing import Any

from connectors.base import Identity, Provider, Setting, WritableField
from connectors.dynamics.streams import ALL as STREAMS
from connectors.errors import Fatal

# The publisher customization prefix Pipewise's columns are created under (a solution publisher's
# customizationprefix; custom column names are <prefix>_<name>).
PREFIX = "pw"
# Record forms open with main.aspx?etn=<logical name>&id=<guid>&pagetype=entityrecord
# ("Open forms, views, dialogs, and reports with a URL", learn.microsoft.com/power-apps/developer/model-driven-apps).
RECORD_PAGE = "/main.aspx?etn={etn}&id={id}&pagetype=entityrecord"


def jwt_claims(jwt: str | None) -> dict[str, Any]:
    """The claims of a JWT's payload, unverified (it came straight from the token endpoint over TLS)."""
    try:
        payload = (jwt or "").split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


def environment_url(token: dict[str, Any]) -> str | None:
    """The Dataverse environment a token is for: kept on it, or the resource of its granted user_impersonation scope."""
    if token.get("instance_url"):
        return str(token["instance_url"]).rstrip("/")
    scope = token.get("scope") or ""
    scope = " ".join(scope) if isinstance(scope, (list, tuple)) else scope
    return next((s.rsplit("/", 1)[0] for s in scope.split() if s.endswith("/user_impersonation")), None)


def environment_scope(config: Any, scope: str) -> str:
    """A scope as Entra ID takes it: Dataverse's user_impersonation under the environment URL."""
    if scope != "user_impersonation":
        return scope
    return f"{str(config.DYNAMICS_API_URL).rstrip('/')}/{scope}"


class DynamicsProvider(Provider):
    key = "dynamics"
    name = "Dynamics 365"
    # The app registration and the environment (the sandbox's when unset). Production: LOGIN_URL is
    # https://login.microsoftonline.com/<tenant id> and API_URL the environment URL
    # (https://<org>.crm.dynamics.com), which is also the resource of the delegated scope.
    settings = (
        Setting("LOGIN_URL", "https://127.0.0.1:8445/8c3f6a2d-1b4e-4f7a-a9d2-5e6b7c8d9e0f",
                "The tenant's authority: https://login.microsoftonline.com/<tenant id>."),
        Setting("API_URL", "https://127.0.0.1:8445", "The Dataverse environment URL."),
        Setting("CLIENT_ID", "5f1d3a4e-7c2b-4e8a-9b61-2d0c8f3a9e71", "The app registration's Application (client) ID."),
        Setting("CLIENT_SECRET", "pipewise-dynamics-sandbox-secret", "The app registration's client secret."),
    )
    # Microsoft identity platform v2 endpoints under the tenant (DYNAMICS_LOGIN_URL is
    # https://login.microsoftonline.com/<tenant id>).
    authorize_path = "/oauth2/v2.0/authorize"
    token_path = "/oauth2/v2.0/token"
    # Entra ID takes a confidential client's secret as client_secret in the form body
    # ("Microsoft identity platform and OAuth 2.0 authorization code flow").
    token_endpoint_auth_method = "client_secret_post"
    # Dataverse's delegated permission is asked for as <environment URL>/user_impersonation
    # (requested_scopes, from DYNAMICS_API_URL); the rest are the OpenID Connect scopes that bring an
    # id_token and a refresh token ("Use OAuth authentication with Microsoft Dataverse").
    scopes = ("user_impersonation", "offline_access", "openid", "profile")
    streams = STREAMS
    writable_objects = {"lead": "lead", "opportunity": "opportunity"}
    writable_fields = (
        WritableField("score", f"{PREFIX}_score", "Pipewise Score", "number"),
        WritableField("band", f"{PREFIX}_band", "Pipewise Band", "text"),
        WritableField("reasons", f"{PREFIX}_reasons", "Pipewise Reasons", "textarea"),
        WritableField("next_step", f"{PREFIX}_nextstep", "Pipewise Next Step", "text"),
        WritableField("model_version", f"{PREFIX}_modelversion", "Pipewise Model Version", "text"),
        WritableField("scored_at", f"{PREFIX}_scoredat", "Pipewise Scored At", "datetime"),
    )
    # UpdateMultiple has no fixed cap on standard tables; bulk-operations.md advises batches of at most
    # 1,000 records so a request stays inside the message size and two-minute execution limits.
    writeback_batch_size = 1000
    signin_scope = "openid profile user_impersonation"
    # A web resource (IFRAME) on the lead, opportunity and user forms frames the panel with typename, id and
    # orgname; the viewer signs in with Entra ID (panel.py). typename is the table's logical name.
    panel = "signin"
    panel_objects = {"lead": "lead", "opportunity": "opportunity", "systemuser": "user"}
    # The webhook is a serviceendpoint and its steps, created through the Web API (registration.py).
    registers_webhooks = True

    @classmethod
    def requested_scopes(cls, config: Any) -> tuple[str, ...]:
        """The declared scopes with user_impersonation on the configured environment."""
        return tuple(environment_scope(config, scope) for scope in cls.scopes)

    @classmethod
    def signin_scopes(cls, config: Any) -> str:
        """The sign-in's scopes with user_impersonation on the configured environment."""
        return " ".join(environment_scope(config, scope) for scope in cls.signin_scope.split())

    @classmethod
    def complete_token(cls, token: dict[str, Any], oauth: Any) -> dict[str, Any]:
        """Environment URL (from the granted <environment>/user_impersonation scope), organization and user (WhoAmI)."""
        if token.get("organization_id") and token.get("instance_url"):
            return token
        resource = environment_url(token)
        if not resource:
            raise Fatal("Microsoft's token answer grants no Dataverse environment (<environment>/user_impersonation). "
                        "Check DYNAMICS_API_URL and the app registration's Dynamics CRM permission.")
        client = cls._package_module("client").DynamicsClient(token, oauth, api_url=resource, verify=oauth.verify,
                                                               max_attempts=2, timeout=30)
        who = client.who_am_i()
        return {**token, "instance_url": resource.rstrip("/"), "organization_id": who["OrganizationId"],
                "user_id": who["UserId"]}

    @classmethod
    def record_url(cls, instance_url: str, remote_org_id: str, object_type: str, remote_id: str) -> str | None:
        """The model-driven app's record form."""
        etn = cls.writable_objects.get(object_type)
        if not etn:
            return None
        return instance_url.rstrip("/") + RECORD_PAGE.format(etn=etn, id=remote_id)

    @classmethod
    def identity(cls, token: dict[str, Any]) -> Identity:
        """Organization, environment URL and user, kept on the token by ``complete_token`` (WhoAmI)."""
        org = token.get("organization_id")
        instance_url = token.get("instance_url")
        if not org or not instance_url:
            raise Fatal("Dynamics 365's token answer was not completed with the organization (WhoAmI). "
                        "Start the connection again; if it persists, check the app registration's API permissions.")
        user = token.get("user_id") or jwt_claims(token.get("id_token")).get("oid")
        return Identity(remote_org_id=org, instance_url=instance_url.rstrip("/"), remote_user_id=user)
