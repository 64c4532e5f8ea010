"""Dynamics 365's field catalogue for field mapping: standard columns, type compatibility, live attributes."""
from __future__ import annotations

from typing import Any

from connectors.common import to_float, to_int
from connectors.dynamics.mapping import to_bool, to_date, to_datetime
from connectors.field_catalogue import FieldCatalogue, text_value

# AttributeType values (AttributeMetadata.AttributeType) that can feed each kind of common value.
_TEXT = frozenset({"String", "Memo", "Picklist", "State", "Status"})
_NUMBER = frozenset({"Integer", "BigInt", "Decimal", "Double", "Money"})


def remote_fields(client, remote_name: str) -> list[dict[str, Any]]:
    """The table's columns as [{name, label, type, custom}], from EntityDefinitions(...)/Attributes."""
    return [{"name": a["LogicalName"], "label": a.get("label") or a["LogicalName"], "type": a.get("AttributeType"),
             "custom": bool(a.get("IsCustomAttribute"))} for a in client.attributes(remote_name)]


CATALOGUE = FieldCatalogue(
    raw_value=lambda raw, name: raw.get(name),
    coerce={"str": text_value, "number": to_float, "int": to_int, "date": to_date, "datetime": to_datetime,
            "bool": to_bool},
    compatible={"str": _TEXT, "number": _NUMBER, "int": _NUMBER, "date": frozenset({"DateTime"}),
                "datetime": frozenset({"DateTime"}), "bool": frozenset({"Boolean"})},
    defaults={
        "lead": {"first_name": "firstname", "last_name": "lastname", "email": "emailaddress1",
                 "company": "companyname", "title": "jobtitle", "country": "address1_country",
                 # No standard lead column holds an industry (it is on the account).
                 "industry": ""},
        "opportunity": {"name": "name", "amount": "estimatedvalue", "probability": "closeprobability",
                        "close_date": "estimatedclosedate", "product": ""},
        "account": {"name": "name", "website": "websiteurl", "annual_revenue": "revenue",
                    "employees": "numberofemployees", "country": "address1_country"},
        "contact": {"first_name": "firstname", "last_name": "lastname", "email": "emailaddress1",
                    "title": "jobtitle", "phone": "telephone1"},
    },
    remote_fields=remote_fields,
)
