"""HubSpot declared: OAuth endpoints and scopes, streams, and the properties Pipewise writes back."""
from __future__ import annotations

from typing import Any

from connectors.base import Identity, Provider, WritableField
from connectors.errors import Fatal
from connectors.hubspot.streams import ALL as STREAMS

# The property group that holds Pipewise's properties on every object it writes to.
PROPERTY_GROUP = "pipewise"
PROPERTY_GROUP_LABEL = "Pipewise"


class HubSpotProvider(Provider):
    key = "hubspot"
    name = "HubSpot"
    # The consent page is on the app host (HUBSPOT_LOGIN_URL); the token endpoint on the API host.
    authorize_path = "/oauth/authorize"
    token_path = "/oauth/v1/token"
    token_on_api_host = True
    scopes = (
        "oauth",
        "crm.objects.contacts.read", "crm.objects.contacts.write",
        "crm.objects.companies.read",
        "crm.objects.deals.read", "crm.objects.deals.write",
        "crm.objects.owners.read",
        "crm.schemas.contacts.read", "crm.schemas.contacts.write",
        "crm.schemas.deals.read", "crm.schemas.deals.write",
        "crm.schemas.companies.read",
        # Roles and teams tell managers from reps (owners carry neither).
        "settings.users.read", "settings.users.teams.read",
    )  # calls, emails, meetings, notes and tasks are readable under the contacts read scope
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

    @classmethod
    def complete_token(cls, token: dict[str, Any], oauth: Any) -> dict[str, Any]:
        """Look the new token up at HubSpot for its portal; the code exchange calls this."""
        from connectors.hubspot.sdk import complete_token

        return token if token.get("hub_id") else complete_token(token, oauth)

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
