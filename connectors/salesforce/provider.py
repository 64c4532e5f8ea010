"""Salesforce declared: OAuth endpoints, streams, and the fields Pipewise writes back."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlparse, urlsplit

from connectors.base import Identity, Provider, Setting, WritableField
from connectors.errors import Fatal
from connectors.panels import url_origin
from connectors.salesforce.ids import to_18
from connectors.salesforce.streams import ALL as STREAMS


class SalesforceProvider(Provider):
    key = "salesforce"
    name = "Salesforce"
    # The connected app (the sandbox's when unset; production: https://login.salesforce.com or the
    # org's My Domain).
    settings = (
        Setting("LOGIN_URL", "https://127.0.0.1:8443", "Where the connected app's OAuth endpoints are."),
        Setting("CLIENT_ID", "pipewise-sandbox-client", "The connected app's consumer key."),
        Setting("CLIENT_SECRET", "pipewise-sandbox-secret", "The connected app's consumer secret."),
        # The team panel's Canvas app: a second app, with its own consumer key and secret (one app
        # carries one Canvas URL and signs with its own secret).
        Setting("TEAM_CLIENT_ID", "pipewise-team-sandbox-client", "The team panel's Canvas app consumer key."),
        Setting("TEAM_CLIENT_SECRET", "pipewise-team-sandbox-secret", "The team panel's Canvas app secret."),
        Setting("API_VERSION", "59.0", "The REST API version Pipewise calls."),
        # Salesforce's guidance (Developer Limits, Bulk API 2.0): more than 2,000 records suit Bulk API 2.0.
        Setting("BULK_THRESHOLD", "2000", "A first sync reads an object with more records than this through "
                                          "Bulk API 2.0 query jobs (0: never)."),
    )
    authorize_path = "/services/oauth2/authorize"
    token_path = "/services/oauth2/token"
    revoke_path = "/services/oauth2/revoke"
    scopes = ("api", "refresh_token")
    streams = STREAMS
    writable_objects = {"lead": "Lead", "opportunity": "Opportunity"}
    writable_fields = (
        WritableField("score", "Pipewise_Score__c", "Pipewise Score", "number"),
        WritableField("band", "Pipewise_Band__c", "Pipewise Band", "text"),
        WritableField("reasons", "Pipewise_Reasons__c", "Pipewise Reasons", "textarea"),
        WritableField("next_step", "Pipewise_Next_Step__c", "Pipewise Next Step", "text"),
        WritableField("model_version", "Pipewise_Model_Version__c", "Pipewise Model Version", "text"),
        WritableField("scored_at", "Pipewise_Scored_At__c", "Pipewise Scored At", "datetime"),
    )
    writeback_batch_size = 200  # sObject Collections take at most 200 records per call
    # "api" too: an admin is recognised by the profile and permission sets read through the API.
    signin_scope = "id api"
    # A Canvas signed request is a few kilobytes; the panel's canvas module refuses above 256 KiB.
    embed_body_bytes = 300 * 1024
    panel = "canvas"

    @classmethod
    def record_url(cls, instance_url: str, remote_org_id: str, object_type: str, remote_id: str) -> str | None:
        """Lightning Experience's record page (/lightning/r/<object>/<id>/view)."""
        remote = cls.writable_objects.get(object_type)
        return f"{instance_url.rstrip('/')}/lightning/r/{remote}/{remote_id}/view" if remote else None

    @classmethod
    def frame_ancestors(cls, instance_url: str | None) -> list[str]:
        """The org's instance and, for My Domain, its Lightning twin (where the Canvas frame's parent lives)."""
        instance = url_origin(instance_url)
        if instance is None:
            return []
        found = [instance]
        host = urlsplit(instance).hostname or ""
        # Lightning Experience pages live on <mydomain>.lightning.force.com, the API on <mydomain>.my.salesforce.com.
        if instance.startswith("https://") and host.endswith(".my.salesforce.com"):
            found.append(f"https://{host[:-len('.my.salesforce.com')]}.lightning.force.com")
        return found

    @classmethod
    def id_forms(cls, remote_id: str) -> tuple[str, ...]:
        """The 18-character form (the API's, as synced) and the 15-character one the UI may send."""
        return tuple(dict.fromkeys((to_18(remote_id), remote_id)))

    @classmethod
    def identity(cls, token: dict[str, Any]) -> Identity:
        """Org and user from the token's identity URL (``https://host/id/<orgId>/<userId>``)."""
        instance_url = token.get("instance_url")
        parts = urlparse(token.get("id") or "").path.strip("/").split("/")
        if not instance_url or len(parts) != 3 or parts[0] != "id":
            raise Fatal("Salesforce's token answer has no identity URL or instance URL. "
                        "Start the connection again; if it persists, check the connected app.")
        return Identity(remote_org_id=parts[1], instance_url=instance_url.rstrip("/"),
                        remote_user_id=parts[2])

    @classmethod
    def user_role(cls, http: Any, token: dict[str, Any], api_version: str) -> str:
        """admin, manager or rep for the token's user, from their profile, permission sets and hierarchy."""
        from connectors.salesforce.identity import role_of

        identity = cls.identity(token)
        return role_of(http, identity.instance_url, api_version, identity.remote_user_id or "")
