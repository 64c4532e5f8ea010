"""HubSpot declared: OAuth endpoints and scopes, streams, and the properties Pipewise writes back."""
from __future__ import annotations

from typing import Any

from connectors.base import Identity, Provider, Setting, WritableField
from connectors.errors import Fatal
from connectors.hubspot.streams import ALL as STREAMS
from connectors.hubspot.tokens import TOKEN_PATH, complete_token

# The property group that holds Pipewise's properties on every object it writes to.
PROPERTY_GROUP = "pipewise"
PROPERTY_GROUP_LABEL = "Pipewise"
# HubSpot's token-endpoint statuses (its "status" key) by the RFC 6749 error they amount to.
TOKEN_ERRORS = {
    "invalid_grant": {"BAD_REFRESH_TOKEN", "BAD_AUTH_CODE", "EXPIRED_AUTH_CODE", "BAD_REDIRECT_URI",
                      "INVALID_GRANT"},
    "invalid_client": {"BAD_CLIENT_ID", "BAD_CLIENT_SECRET", "INVALID_CLIENT"},
    "unsupported_grant_type": {"BAD_GRANT_TYPE", "UNSUPPORTED_GRANT_TYPE"},
}


class HubSpotProvider(Provider):
    key = "hubspot"
    name = "HubSpot"
    # The public app: consent on the app host, API and tokens on the API host (both the sandbox when
    # unset; production: https://app.hubspot.com and https://api.hubapi.com).
    settings = (
        Setting("LOGIN_URL", "https://127.0.0.1:8444", "The app host, where the consent page is."),
        Setting("API_URL", "{LOGIN_URL}", "The API host, where the token endpoint and the CRM API are."),
        Setting("CLIENT_ID", "pipewise-hubspot-sandbox-client", "The public app's client id."),
        Setting("CLIENT_SECRET", "pipewise-hubspot-sandbox-secret",
                "The public app's client secret (also signs webhooks and card fetches)."),
        Setting("APP_ID", "2016482", "The public app's id."),
        # Lets the connection check read the app's webhook subscriptions.
        Setting("DEVELOPER_API_KEY", "pipewise-hubspot-sandbox-developer-key", "The developer account's key."),
    )
    # The consent page is on the app host (HUBSPOT_LOGIN_URL); the token endpoint on the API host.
    authorize_path = "/oauth/authorize"
    token_path = TOKEN_PATH
    token_on_api_host = True
    # HubSpot documents the client credentials as form fields in the token request's body, never as
    # HTTP Basic ("Working with OAuth"; the 2026-03 OAuth API description lists them as body fields).
    token_endpoint_auth_method = "client_secret_post"
    # Scopes the app settings mark required go in `scope` and must all be granted; optional ones go in
    # `optional_scope` and are left out of the grant where the account lacks the feature ("Working with
    # OAuth" and the app-settings scope categories). The sign-in asks for the required ones only.
    scopes = (
        "oauth",
        "crm.objects.contacts.read", "crm.objects.contacts.write",
        "crm.objects.companies.read",
        "crm.objects.deals.read", "crm.objects.deals.write",
        "crm.objects.owners.read",
        "crm.schemas.contacts.read", "crm.schemas.contacts.write",
        "crm.schemas.deals.read", "crm.schemas.deals.write",
        # The settings users API tells admins and managers from reps (owners carry no role).
        "settings.users.read",
    )  # calls, emails, meetings, notes and tasks are readable under crm.objects.contacts.read
    # Goals (quotas) exist only where the subscription has them: without the scope, quotas come from
    # Pipewise's own settings.
    optional_scopes = ("crm.objects.goals.read",
                       # The company currency and exchange rates: without them deals in other currencies
                       # are left out of totals (the panels say so).
                       "settings.currencies.read",
                       # Each user's own time zone (the users object): without it, the portal's zone.
                       "crm.objects.users.read")
    optional_scope_param = "optional_scope"
    streams = STREAMS
    # A HubSpot contact is Pipewise's lead (scored) and, once converted, its contact: both are the
    # same HubSpot record, so both write to contacts. Deals are Pipewise's opportunities.
    writable_objects = {"lead": "contacts", "opportunity": "deals"}
    writable_fields = (
        WritableField("score", "pipewise_score", "Pipewise score", "number"),
        WritableField("band", "pipewise_band", "Pipewise band", "text"),
        WritableField("reasons", "pipewise_reasons", "Pipewise reasons", "textarea"),
        WritableField("next_step", "pipewise_next_step", "Pipewise next step", "text"),
        WritableField("model_version", "pipewise_model_version", "Pipewise model version", "text"),
        WritableField("scored_at", "pipewise_scored_at", "Pipewise scored at", "datetime"),
    )
    writeback_batch_size = 100  # batch/update takes at most 100 inputs
    # HubSpot refuses an authorization that leaves out any of the app's required scopes
    # (docs/hubspot/app.json), so the sign-in asks for all of them.
    signin_scope = " ".join(scopes)
    # The CRM card's fetch, signed like webhooks; app cards send the objectTypeId, legacy fetches the
    # name. A HubSpot contact is always a live Lead in the store (connectors.hubspot.mapping).
    panel = "card"
    panel_objects = {"CONTACT": "lead", "0-1": "lead", "DEAL": "opportunity", "0-3": "opportunity"}
    panel_theme = True

    @classmethod
    def complete_token(cls, token: dict[str, Any], oauth: Any) -> dict[str, Any]:
        """Portal, user, granted scopes and app host of a new token; the code exchange calls this."""
        return complete_token(token, oauth)

    @classmethod
    def token_error(cls, status: int, body: dict[str, Any]) -> tuple[str, str | None] | None:
        """HubSpot's OAuth error shape ({status, message, correlationId, category}) in RFC 6749 terms."""
        name = str(body.get("status") or "").upper()
        if name in ("", "ERROR"):
            name = str(body.get("category") or "").upper()
        message = body.get("message") if isinstance(body.get("message"), str) else None
        for error, names in TOKEN_ERRORS.items():
            if name in names:
                return error, message
        return None

    # HubSpot's object type ids in record URLs (contacts 0-1, deals 0-3).
    RECORD_TYPE_IDS = {"lead": "0-1", "opportunity": "0-3"}

    @classmethod
    def record_url(cls, instance_url: str, remote_org_id: str, object_type: str, remote_id: str) -> str | None:
        """The record page on the app host: /contacts/<portal id>/record/<object type id>/<id>."""
        type_id = cls.RECORD_TYPE_IDS.get(object_type)
        return f"{instance_url.rstrip('/')}/contacts/{remote_org_id}/record/{type_id}/{remote_id}" if type_id else None

    @classmethod
    def identity(cls, token: dict[str, Any]) -> Identity:
        """Portal and user from a token completed by ``complete_token`` (hub_id, user_id)."""
        hub_id = token.get("hub_id")
        instance_url = token.get("instance_url")
        if not hub_id or not instance_url:
            raise Fatal("HubSpot's token has no portal id: Pipewise could not look the token up at "
                        "HubSpot. Start the connection again; if it persists, check the app's scopes.")
        user_id = token.get("user_id")
        return Identity(remote_org_id=str(hub_id), instance_url=str(instance_url).rstrip("/"),
                        remote_user_id=str(user_id) if user_id is not None else None)
