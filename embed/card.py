"""The CRM card of a provider whose panel is a "card" (HubSpot): its signed fetch answered with the
score, and an iframe action that opens the full panel (the same panel as the Canvas one, in the CRM's look).

The answer is HubSpot's card detail payload (IntegratorCardPayloadResponse, responseVersion "v3":
sections of tokens, section actions and top-level actions), as its CRM card API describes it
(PublicApiSpecs/CRM/Public App Crm Cards/Rollouts/147892/2026-03/publicAppCrmCards.json, "sample-response").
Legacy CRM cards, whose fetch also took the older `results[]` format, are sunset since 31 October 2026;
the app card shipped in docs/hubspot fetches this same URL through `hubspot.fetch()`, which signs the
request with X-HubSpot-Signature-v3 and names the account, the viewer and the record (its panel module reads
them), and renders this payload.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, jsonify, url_for
from sqlalchemy import func, select

from connectors import registry
from connectors.base import InvalidPanelRequest
from embed.app_runtime import runtime
from embed.panel import panel_context
from embed.tokens import PanelClaims, issue_panel_token, mint_manager_token
from embed.views import bp, live_connection, verify_panel
from sync.store import Connection, User

log = logging.getLogger(__name__)

IFRAME_WIDTH, IFRAME_HEIGHT = 890, 748
MAX_CARD_REASONS = 3
RESPONSE_VERSION = "v3"


def card_fetch(provider: str):
    """Verify the CRM's signature on the card fetch (its panel.verify), then answer the card for the record."""
    rt = runtime()
    declared = registry.provider(provider)
    try:
        context = verify_panel(provider, "rep")
    except InvalidPanelRequest as exc:
        log.warning("%s.card.invalid-signature reason=%s", provider, exc.reason)
        return _json({"status": "error", "message": f"The request did not come from {declared.name} "
                                                    "with a valid, fresh signature."}, 401)
    object_type, object_id = context.record or (None, "")
    with rt.sessions() as session:
        connection = live_connection(session, provider, context.remote_org_id)
        if connection is None:
            log.warning("%s.card.unknown-portal portal=%s", provider, context.remote_org_id)
            name = declared.name
            return _json(_message_card(object_id, f"Pipewise is not installed for this {name} account",
                                       f"Ask your {name} admin to connect this account in the Pipewise console."))
        if object_type not in declared.writable_objects:
            return _json(_message_card(object_id, "Pipewise scores contacts and deals",
                                       "Open a contact or a deal to see its Pipewise score."))
        panel = panel_context(session, connection, object_type, object_id)
        claims = PanelClaims(organization_id=connection.organization_id, connection_id=connection.id,
                             user_remote_id=context.remote_user_id, role="rep",
                             object_type=object_type, remote_id=object_id)
        panel_token = issue_panel_token(current_app.secret_key, claims)
        team = team_panel_action(session, connection, context.user_email or "", rt.config.PUBLIC_URL)
        log.info("%s.card.fetched connection=%s object=%s", provider, connection.id, object_type)
        theme = provider if declared.panel_theme else None
        answer = card(panel, object_id, panel_url(rt.config.PUBLIC_URL, object_type, object_id, panel_token, theme))
        if team is not None:
            answer["topLevelActions"]["secondary"].append(team)
        return _json(answer)


def _register(provider: str) -> None:
    bp.add_url_rule(f"/{provider}/card", endpoint=f"{provider}_card", view_func=lambda: card_fetch(provider),
                    methods=["GET"])


for _provider in registry.panel_keys("card"):
    _register(_provider)


def team_panel_action(session, connection: Connection, user_email: str, public_url: str) -> dict[str, Any] | None:
    """For a viewing manager or admin (matched by email to the portal's owners), the team panel's action."""
    if not user_email:
        return None
    viewer = session.scalar(select(User).where(User.connection_id == connection.id, User.deleted_at.is_(None),
                                               func.lower(User.email) == user_email.strip().lower()))
    if viewer is None or viewer.role not in ("manager", "admin"):
        return None
    token = mint_manager_token(current_app.secret_key, connection.organization_id, connection.id,
                               viewer.remote_id, viewer.role)
    path = url_for("embed.manager_home")
    return iframe_action("Open team panel", f"{public_url.rstrip('/')}{path}?{urlencode({'pt': token})}")


def iframe_action(label: str, url: str) -> dict[str, Any]:
    """An IFRAME action (IFrameActionBody: type, url, width, height, propertyNamesIncluded, label)."""
    return {"type": "IFRAME", "width": IFRAME_WIDTH, "height": IFRAME_HEIGHT, "url": url, "label": label,
            "propertyNamesIncluded": []}


def card_token(name: str, label: str, value: Any, data_type: str = "STRING") -> dict[str, Any]:
    """One label/value line of a card section (ObjectToken); HubSpot takes every value as a string."""
    return {"name": name, "label": label, "dataType": data_type, "value": "" if value is None else str(value)}


def payload(sections: list[dict[str, Any]], primary: dict[str, Any] | None = None) -> dict[str, Any]:
    """The card detail payload around its sections."""
    actions: dict[str, Any] = {"secondary": []}
    if primary is not None:
        actions["primary"] = primary
    return {"responseVersion": RESPONSE_VERSION, "totalCount": len(sections), "cardLabel": "Pipewise",
            "sections": sections, "topLevelActions": actions}


def panel_url(public_url: str, object_type: str, remote_id: str, token: str, theme: str | None) -> str:
    """The absolute URL of the panel (in the CRM's look when it has one), authorized by a fresh panel token."""
    path = url_for("embed.panel", object_type=object_type, remote_id=remote_id)
    query = {"pt": token, **({"theme": theme} if theme else {})}
    return f"{public_url.rstrip('/')}{path}?{urlencode(query)}"


def card(context: dict[str, Any], object_id: str, iframe_uri: str) -> dict[str, Any]:
    """The card payload for one record from its panel context; the panel opens from the card's primary action."""
    action = iframe_action("Open Pipewise panel", iframe_uri)
    score = context.get("score")
    if not score:
        section = {"id": object_id, "title": "Pipewise has not scored this record yet",
                   "tokens": [card_token("status", "Status", "The score appears after the next sync.")],
                   "actions": []}
        return payload([section], primary=action)
    reasons = [f"+ {text}" for text in score["up"]] + [f"- {text}" for text in score["down"]]
    tokens = [
        card_token("score", "Score", score["value"], "NUMERIC"),
        card_token("band", "Band", score["band"]),
        card_token("probability", context["probability_label"], score["probability_percent"]),
        card_token("next_step", "Next step", score["next_step"] or "None suggested"),
        card_token("reasons", "Top reasons",
              "; ".join(reasons[:MAX_CARD_REASONS]) or "Not enough history to explain this score."),
    ]
    section = {"id": object_id, "title": f"Pipewise score {score['value']} ({score['band']})", "tokens": tokens,
               "actions": []}
    return payload([section], primary=action)


def _message_card(object_id: str, title: str, message: str) -> dict[str, Any]:
    section = {"id": object_id or "0", "title": title, "tokens": [card_token("message", "Pipewise", message)],
               "actions": []}
    return payload([section])


def _json(data: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(data)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
