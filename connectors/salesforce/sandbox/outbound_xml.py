"""The SOAP 1.1 shape of Salesforce Outbound Messages: notification snapshots, the envelope, the Ack."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .schema import Field

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
ENTERPRISE_NS = "urn:sobject.enterprise.soap.sforce.com"
HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""',
           "User-Agent": "Jakarta Commons-HttpClient/3.1"}
MAX_PER_MESSAGE = 100
_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True)
class Notification:
    """One record change: its notification id, and the record's values as of the moment it is sent.

    Outbound Messaging considerations (Salesforce Help): the message carries the record's data at
    delivery, not at the change; a record deleted before delivery yields a notification without data
    (``values`` None: an empty sObject element).
    """

    id: str
    object_name: str
    record_id: str
    change: str                        # created | updated | deleted (not on the wire; for stats)
    values: tuple[tuple[str, str], ...] | None = ()  # (field name, wire text), Id first, nulls left out


def wire_value(field: Field, value: Any) -> str | None:
    """A stored value as the enterprise WSDL writes it (xsd:boolean, xsd:double, xsd:dateTime...)."""
    if value is None or value == "":
        return None
    if field.type == "boolean":
        return "true" if value else "false"
    if field.type == "int":
        return str(int(value))
    if field.type in ("double", "currency", "percent"):
        return repr(float(value))
    if field.type == "datetime":
        # stored as 2017-10-01T00:00:00.000+0000; SOAP writes the UTC offset as Z
        return str(value).replace("+0000", "Z")
    return _NOT_XML_CHARS.sub("", str(value))


def snapshot(fields: list[Field], row: dict[str, Any],
             chosen: tuple[str, ...] | None = None) -> tuple[tuple[str, str], ...]:
    """The sObject's elements for a stored row: Id first, then the chosen non-null fields in schema order.

    Only the fields picked in the Outbound Message definition travel (Id always); ``chosen`` None
    means every field.
    """
    wanted = None if chosen is None else {name.lower() for name in chosen}
    values = [("Id", row["Id"])]
    for field in fields:
        if field.name == "Id" or (wanted is not None and field.name.lower() not in wanted):
            continue
        text = wire_value(field, row.get(field.name))
        if text is not None:
            values.append((field.name, text))
    return tuple(values)


def envelope(notifications: list[Notification], org_id: str, action_id: str, instance_url: str,
             api_version: str) -> bytes:
    """The SOAP request body of one message (all notifications share one object type)."""
    org15 = org_id[:15]
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n <soapenv:Body>\n',
        f'  <notifications xmlns="{OUTBOUND_NS}">\n',
        f"   <OrganizationId>{escape(org_id)}</OrganizationId>\n",
        f"   <ActionId>{escape(action_id)}</ActionId>\n",
        '   <SessionId xsi:nil="true"/>\n',
        f"   <EnterpriseUrl>{escape(instance_url)}/services/Soap/c/{api_version}/{org15}</EnterpriseUrl>\n",
        f"   <PartnerUrl>{escape(instance_url)}/services/Soap/u/{api_version}/{org15}</PartnerUrl>\n",
    ]
    for note in notifications:
        parts.append(f"   <Notification>\n    <Id>{escape(note.id)}</Id>\n"
                     f'    <sObject xsi:type={quoteattr("sf:" + note.object_name)} xmlns:sf="{ENTERPRISE_NS}">\n')
        parts.extend(f"     <sf:{name}>{escape(text)}</sf:{name}>\n" for name, text in note.values or ())
        parts.append("    </sObject>\n   </Notification>\n")
    parts.append("  </notifications>\n </soapenv:Body>\n</soapenv:Envelope>\n")
    return "".join(parts).encode("utf-8")


def is_ack(body: bytes) -> bool:
    """True when a reply body holds <Ack>true</Ack> (any namespace prefix), as Salesforce requires."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return False
    return any(element.tag.rpartition("}")[2] == "Ack" and (element.text or "").strip().lower() == "true"
               for element in root.iter())
