"""The Canvas panel: verify Salesforce's signed request, then read who opened it, where and on which record.

Two Canvas apps embed Pipewise, each signing with its own consumer secret: the rep panel (the
connected app itself, on lead and opportunity pages) and the team panel (its own app, on User pages
and a tab). What is read of the envelope (Canvas Developer Guide, CanvasRequest, Context, Record):
``context.organization.organizationId``, ``context.user.userId``, ``client.instanceUrl`` and the
record of ``context.environment.record`` (``Id`` and ``attributes.type``; empty off record pages).
"""
from __future__ import annotations

from typing import Any

from connectors.panels import InvalidPanelRequest, PanelChecks, PanelContext, PanelRequest
from connectors.salesforce.canvas import DEFAULT_WINDOW_SECONDS, introspect, verify_signed_request
from connectors.salesforce.ids import ID, to_18

# The _sfdc_canvas_authvalue of the GET a self-authorized app gets until the user approved it.
APPROVAL_REQUIRED = "user_approval_required"
# The approval page is reached before Pipewise knows the org: Salesforce's own domains may frame it.
APPROVAL_FRAMES = ("https://*.my.salesforce.com", "https://*.lightning.force.com", "https://*.force.com")
# Key prefixes of the objects the panels open on, for a record whose type the envelope leaves out.
KEY_PREFIXES = {"00Q": "lead", "006": "opportunity", "005": "user"}
TYPES = {"lead": "lead", "opportunity": "opportunity", "user": "user"}


def app_credentials(config: Any, app: str) -> tuple[str, str]:
    """(consumer key, consumer secret) of the Canvas app of a panel: the connected app, or the team's own."""
    prefix = "SALESFORCE_TEAM_" if app == "team" else "SALESFORCE_"
    return getattr(config, f"{prefix}CLIENT_ID"), getattr(config, f"{prefix}CLIENT_SECRET")


def approval_required(request: PanelRequest) -> bool:
    """Whether Salesforce opened the Canvas URL to have the user approve a self-authorized app first.

    Canvas guide, "Signed Request Authentication": with Permitted Users "All users may self-authorize",
    a user who has not approved the app (or whose approval was revoked or expired) gets a GET carrying
    ``_sfdc_canvas_authvalue=user_approval_required`` instead of the signed POST.
    """
    return request.method == "GET" and request.args.get("_sfdc_canvas_authvalue") == APPROVAL_REQUIRED


def verify(request: PanelRequest, app: str, checks: PanelChecks) -> PanelContext:
    """The context of a signed request this panel's Canvas app posted, or InvalidPanelRequest.

    A repeat after the reload window is accepted only while the installed instance of the org the
    envelope names calls the OAuth token inside active (token introspection with the app's credentials).
    """
    client_id, client_secret = app_credentials(checks.config, app)
    window = int(getattr(checks.config, "EMBED_CANVAS_WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS))

    def session_is_live(envelope: dict[str, Any]) -> bool:
        org = organization_id(envelope)
        instance = checks.instance_url_of(org) if org else None
        return bool(instance) and introspect(instance, client_id, client_secret, envelope, user_id(envelope),
                                             checks.config.ca_bundle)

    try:
        envelope = verify_signed_request(request.form.get("signed_request", ""), client_secret, redis=checks.redis,
                                         window_seconds=window, session_is_live=session_is_live)
    except (RecursionError, OverflowError, ValueError, TypeError):
        # A hostile envelope (nested too deep, numbers out of range) is refused like a bad signature.
        raise InvalidPanelRequest("malformed-envelope") from None
    org = organization_id(envelope)
    if not org:
        raise InvalidPanelRequest("no-organization")
    return PanelContext(remote_org_id=org, remote_user_id=to_18(user_id(envelope)), record=record_ref(envelope),
                        app=app, instance_url=instance_url(envelope))


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def organization_id(envelope: dict[str, Any]) -> str | None:
    """The Salesforce organization the request comes from."""
    value = _get(envelope, "context", "organization", "organizationId")
    return str(value) if value else None


def instance_url(envelope: dict[str, Any]) -> str | None:
    """The Salesforce instance the request says it comes from (trust it only once verified)."""
    value = _get(envelope, "client", "instanceUrl")
    return value if isinstance(value, str) else None


def user_id(envelope: dict[str, Any]) -> str:
    """The Salesforce user looking at the page."""
    return str(_get(envelope, "context", "user", "userId") or envelope.get("userId") or "")


def record_ref(envelope: dict[str, Any]) -> tuple[str | None, str] | None:
    """(common object type or None when unsupported, 18-char id) of the record in context, if any.

    The record is ``context.environment.record`` (Canvas guide, Record object: ``Id`` and
    ``attributes.type``; empty off record pages). ``parameters`` hold only what an admin configured.
    """
    record = _get(envelope, "context", "environment", "record") or {}
    raw_id = record.get("Id") if isinstance(record, dict) else None
    if not isinstance(raw_id, str) or not ID.match(raw_id):
        return None
    remote_id = to_18(raw_id)
    declared = _get(record, "attributes", "type")
    if isinstance(declared, str) and declared:
        return TYPES.get(declared.lower()), remote_id
    return KEY_PREFIXES.get(remote_id[:3]), remote_id
