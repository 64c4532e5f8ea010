"""Salesforce Outbound Messages: parse the SOAP notification safely, and the acknowledgement.

Outbound Messaging considerations (Salesforce Help): a notification carries the fields its message
definition chose, as the record is at delivery; "if the record is deleted before the notification
is delivered, the notification doesn't contain any data". Such a notification parses to one without
a record id; it must not fail the message, which Salesforce would then retry for 24 hours and drop
with every other notification in it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from connectors.inbound import Answer, Inbound, InboundEvent, Refused
from connectors.salesforce.streams import ALL as STREAMS

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
# Outbound messages carry at most 100 notifications; a little slack for the envelope.
MAX_BODY_BYTES = 2 * 1024 * 1024


@dataclass
class Notification:
    id: str
    object_type: str
    record_id: str | None  # None: the record was deleted before delivery, so no data came
    fields: dict[str, str | None] = field(default_factory=dict)


@dataclass
class OutboundMessage:
    organization_id: str
    action_id: str
    session_id: str | None = None
    notifications: list[Notification] = field(default_factory=list)


def _parser() -> etree.XMLParser:
    # No entities, no DTD, no network: an outbound message never needs them, an attacker would.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True)


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child_text(parent: etree._Element, name: str) -> str | None:
    node = parent.find(f"{{{OUTBOUND_NS}}}{name}")
    if node is None or node.text is None:
        return None
    return node.text.strip() or None


def _sobject(node: etree._Element) -> tuple[str, dict[str, str | None]]:
    """The object type (from xsi:type ``sf:Lead``) and the record's fields."""
    xsi_type = node.get(f"{{{XSI_NS}}}type") or ""
    object_type = xsi_type.rpartition(":")[2]
    fields: dict[str, str | None] = {}
    for child in node:
        name = _local(child.tag)
        if not name:
            continue
        nil = child.get(f"{{{XSI_NS}}}nil") == "true"
        fields[name] = None if nil else (child.text or "")
    return object_type, fields


def parse_outbound_message(body: bytes) -> OutboundMessage:
    """The notifications in an Outbound Message body; ValueError when it is not one."""
    if not body or len(body) > MAX_BODY_BYTES:
        raise ValueError("The outbound message is empty or larger than Salesforce ever sends.")
    try:
        root = etree.fromstring(body, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"The outbound message is not well-formed XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise ValueError("The outbound message declares a DTD; Salesforce never sends one.")
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise ValueError("The outbound message is not a SOAP 1.1 envelope.")
    notifications = root.find(f"{{{SOAP_NS}}}Body/{{{OUTBOUND_NS}}}notifications")
    if notifications is None:
        raise ValueError("The SOAP body holds no Salesforce outbound <notifications>.")
    organization_id = _child_text(notifications, "OrganizationId")
    action_id = _child_text(notifications, "ActionId")
    if not organization_id or not action_id:
        raise ValueError("The outbound message has no OrganizationId or ActionId.")
    message = OutboundMessage(organization_id, action_id, _child_text(notifications, "SessionId"))
    for node in notifications.findall(f"{{{OUTBOUND_NS}}}Notification"):
        notification_id = _child_text(node, "Id")
        if not notification_id:
            raise ValueError("An outbound notification has no Id.")
        sobject = node.find(f"{{{OUTBOUND_NS}}}sObject")
        object_type, fields = _sobject(sobject) if sobject is not None else ("", {})
        message.notifications.append(Notification(notification_id, object_type, fields.get("Id") or None, fields))
    return message


def ack_response(ack: bool = True) -> bytes:
    """The SOAP answer Salesforce expects; without Ack true it redelivers for about a day."""
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soapenv": SOAP_NS})
    body = etree.SubElement(envelope, f"{{{SOAP_NS}}}Body")
    response = etree.SubElement(body, f"{{{OUTBOUND_NS}}}notificationsResponse", nsmap={None: OUTBOUND_NS})
    etree.SubElement(response, f"{{{OUTBOUND_NS}}}Ack").text = "true" if ack else "false"
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def test_delivery(remote_org_id: str, object_name: str, record_id: str, event_id: str, *,
                  instance_url: str = "", api_version: str = "59.0", **_signing: str) -> tuple[bytes, dict[str, str]]:
    """An Outbound Message with one notification naming one record, as Salesforce sends it.

    The admin's "Send a test event": the shape follows the outbound messaging WSDL (notifications →
    OrganizationId, ActionId, SessionId, EnterpriseUrl, PartnerUrl, Notification → Id, sObject of
    xsi:type ``sf:<Object>``).
    Only the record's Id travels, so it is never mistaken for the echo of a write: the intake
    re-reads the record, as for any change. Salesforce authenticates these by the URL, not a signature.
    """
    sf_ns = "urn:sobject.enterprise.soap.sforce.com"
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soapenv": SOAP_NS, "xsi": XSI_NS})
    body = etree.SubElement(envelope, f"{{{SOAP_NS}}}Body")
    notes = etree.SubElement(body, f"{{{OUTBOUND_NS}}}notifications", nsmap={None: OUTBOUND_NS})
    etree.SubElement(notes, f"{{{OUTBOUND_NS}}}OrganizationId").text = remote_org_id
    etree.SubElement(notes, f"{{{OUTBOUND_NS}}}ActionId").text = "04k000000000000AAA"
    etree.SubElement(notes, f"{{{OUTBOUND_NS}}}SessionId").set(f"{{{XSI_NS}}}nil", "true")
    soap = f"{instance_url.rstrip('/')}/services/Soap"
    etree.SubElement(notes, f"{{{OUTBOUND_NS}}}EnterpriseUrl").text = f"{soap}/c/{api_version}/{remote_org_id[:15]}"
    etree.SubElement(notes, f"{{{OUTBOUND_NS}}}PartnerUrl").text = f"{soap}/u/{api_version}/{remote_org_id[:15]}"
    note = etree.SubElement(notes, f"{{{OUTBOUND_NS}}}Notification")
    etree.SubElement(note, f"{{{OUTBOUND_NS}}}Id").text = event_id
    sobject = etree.SubElement(note, f"{{{OUTBOUND_NS}}}sObject", nsmap={"sf": sf_ns})
    sobject.set(f"{{{XSI_NS}}}type", f"sf:{object_name}")
    etree.SubElement(sobject, f"{{{sf_ns}}}Id").text = record_id
    return (etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"),
            {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})


# -- the inbound contract (connectors.inbound) -------------------------------------------------

# Salesforce signs nothing: the org id and the connection's own secret are in the URL.
ROUTE = "/<remote_org_id>/<secret>"
SOAP = "text/xml; charset=utf-8"


def verify(inbound: Inbound, config: Any, secret_matches: Callable[[str, str], bool]) -> bool:
    """Whether the path's secret is the one of a live connection to the path's org (constant time)."""
    return secret_matches(inbound.path_args["remote_org_id"], inbound.path_args["secret"])


def parse(inbound: Inbound) -> list[InboundEvent]:
    """The message's notifications of declared streams; Refused when the body names another org."""
    message = parse_outbound_message(inbound.body)
    remote_org_id = inbound.path_args["remote_org_id"]
    if message.organization_id[:15] != remote_org_id[:15]:
        raise Refused(f"The message is for org {message.organization_id[:18]}, not {remote_org_id[:18]}.")
    streams = {s.remote_name: s for s in STREAMS}
    # A record deleted before delivery comes without data: its deletion arrives with the next sync.
    return [InboundEvent(remote_org_id=remote_org_id, event_id=note.id[:128], kind="outbound_message",
                         stream=stream.name, remote_ids=[note.record_id],
                         payload={"stream": stream.name, "fields": note.fields},
                         targets={stream.name: [note.record_id]}, echo_fields=note.fields, snapshot=True)
            for note in message.notifications
            if (stream := streams.get(note.object_type)) is not None and note.record_id is not None]


def answer(outcome: str) -> Answer:
    """accepted: Ack true; malformed: Ack false with a 400 (redelivered); refused: a plain 403."""
    if outcome == "refused":
        return Answer(403)
    return Answer(200 if outcome == "accepted" else 400, ack_response(outcome == "accepted"), SOAP)
