"""The app card's fetch: signed like HubSpot's webhooks, naming the portal, the viewer and the record.

``hubspot.fetch()`` from the app card (and a legacy CRM card's data fetch) signs the request with
X-HubSpot-Signature-v3 over the full URL and adds ``portalId``, ``userId``, ``userEmail`` and
``associatedObjectType``/``associatedObjectId`` to its query (HubSpot's CRM card and app card guides).
"""
from __future__ import annotations

from connectors.hubspot import webhooks
from connectors.hubspot.provider import HubSpotProvider
from connectors.panels import InvalidPanelRequest, PanelChecks, PanelContext, PanelRequest

MAX_OBJECT_ID_DIGITS = 19  # record ids are 64-bit integers


def verify(request: PanelRequest, app: str, checks: PanelChecks) -> PanelContext:
    """The context of a card fetch with a valid, fresh v3 signature, or InvalidPanelRequest."""
    if not webhooks.verify(request, checks.config, lambda *_: False):
        raise InvalidPanelRequest("bad-signature")
    object_id = request.args.get("associatedObjectId", "")
    object_type = HubSpotProvider.panel_objects.get(request.args.get("associatedObjectType", "").upper())
    valid_id = object_id.isascii() and object_id.isdigit() and len(object_id) <= MAX_OBJECT_ID_DIGITS
    return PanelContext(remote_org_id=request.args.get("portalId", ""), remote_user_id=request.args.get("userId", ""),
                        record=(object_type, object_id) if valid_id else None, app=app,
                        user_email=request.args.get("userEmail") or None)
