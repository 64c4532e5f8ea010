"""Dataverse webhooks: a serviceendpoint (contract Webhook, authtype HttpHeader) posts each step's context.

Source: learn.microsoft.com/power-apps/developer/data-platform/use-webhooks.md: the body is the JSON
RemoteExecutionContext; with HttpHeader authentication the endpoint's authvalue
``<settings><setting name="x-pipewise-secret" value="…" /></settings>`` is sent as that header on every post;
any 2xx is success, and 502/503/504 are retried once.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from connectors.inbound import Answer, Inbound, InboundEvent, Refused

ROUTE = "/<remote_org_id>"
SECRET_HEADER = "x-pipewise-secret"
# The platform trims a context above 256 KB (x-ms-dynamics-msg-size-exceeded); a little slack on top.
MAX_BODY_BYTES = 512 * 1024
# Dataverse logical name → the stream that re-reads it (stream remote names are entity sets).
BY_LOGICAL = {"account": "accounts", "contact": "contacts", "lead": "leads", "opportunity": "opportunities",
              "task": "tasks", "phonecall": "phonecalls", "appointment": "appointments", "email": "emails",
              "systemuser": "systemusers", "campaign": "campaigns", "goal": "goals"}
MESSAGES = ("Create", "Update", "Delete", "Assign", "SetState", "SetStateDynamicEntity", "QualifyLead", "Win",
            "Lose")


def verify(inbound: Inbound, config: Any, secret_matches: Callable[[str, str], bool]) -> bool:
    """Whether the endpoint's header carries the secret of a live connection to the path's org (constant time)."""
    given = next((v for k, v in inbound.headers.items() if k.lower() == SECRET_HEADER), "")
    return bool(given) and secret_matches(inbound.path_args.get("remote_org_id", ""), given)


def _plain(value: Any) -> Any:
    """An SDK-serialized value (OptionSetValue, Money, EntityReference) as its plain value."""
    if isinstance(value, dict):
        return value.get("Value", value.get("Id"))
    return value


def _attributes(context: dict[str, Any]) -> dict[str, Any]:
    for parameter in context.get("InputParameters") or []:
        target = parameter.get("value") if parameter.get("key") == "Target" else None
        if isinstance(target, dict) and isinstance(target.get("Attributes"), list):
            return {a["key"]: _plain(a.get("value")) for a in target["Attributes"] if "key" in a}
    return {}


def parse(inbound: Inbound) -> list[InboundEvent]:
    """The step's change as one event; Refused when the context names another organization."""
    try:
        context = json.loads(inbound.body)
        org, record_id = str(context["OrganizationId"]), str(context["PrimaryEntityId"])
        logical, message = str(context["PrimaryEntityName"]), str(context["MessageName"])
        operation = str(context.get("OperationId") or context["CorrelationId"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"The body is not a Dataverse RemoteExecutionContext: {exc}") from exc
    if org.lower() != inbound.path_args["remote_org_id"].lower():
        raise Refused(f"The context is for organization {org[:36]}, not {inbound.path_args['remote_org_id'][:36]}.")
    stream = BY_LOGICAL.get(logical)
    if stream is None:
        return []
    attributes = _attributes(context) if message == "Update" else {}
    step = (context.get("OwningExtension") or {}).get("Id") or ""
    return [InboundEvent(remote_org_id=inbound.path_args["remote_org_id"],
                         event_id=f"{operation}:{step}:{record_id}"[:128], kind=message.lower(), stream=stream,
                         remote_ids=[record_id], payload={"message": message, "entity": logical,
                                                          "correlation": context.get("CorrelationId")},
                         targets={stream: [record_id]}, echo_fields=attributes or None)]


def answer(outcome: str) -> Answer:
    """Any 2xx is success to the platform; a 4xx is a failure it does not retry."""
    if outcome == "refused":
        return Answer(401)
    return Answer(204 if outcome == "accepted" else 400)


def test_delivery(remote_org_id: str, object_name: str, record_id: str, event_id: str, *,
                  client_secret: str = "", webhook_secret: str = "", **_unused: Any) -> tuple[bytes, dict[str, str]]:
    """An Update context naming one record, as a webhook step posts it, with the endpoint's header."""
    context = {"OrganizationId": remote_org_id, "PrimaryEntityId": record_id, "PrimaryEntityName": object_name,
               "MessageName": "Update", "CorrelationId": event_id, "OperationId": event_id, "Depth": 1, "Mode": 1,
               "Stage": 40, "InputParameters": [], "OwningExtension": {"Id": event_id, "LogicalName":
                                                                        "sdkmessageprocessingstep"}}
    headers = {"Content-Type": "application/json", "x-ms-dynamics-entity-name": object_name,
               "x-ms-dynamics-request-name": "Update"}
    if webhook_secret:
        headers[SECRET_HEADER] = webhook_secret
    return json.dumps(context).encode(), headers
