"""HubSpot's field catalogue for field mapping: standard sources, type compatibility, live properties."""
from __future__ import annotations

from typing import Any

from connectors.field_catalogue import FieldCatalogue, text_value
from connectors.hubspot.mapping import hs_bool, hs_date, hs_datetime, hs_float, hs_int

_TEXT = frozenset({"string", "enumeration", "phone_number"})


def remote_fields(client, remote_name: str) -> list[dict[str, Any]]:
    """The object's properties as [{name, label, type, custom}], through the client's properties API."""
    return [{"name": p["name"], "label": p.get("label") or p["name"], "type": p.get("type"),
             "custom": not p.get("hubspotDefined", False)} for p in client.properties(remote_name)]


CATALOGUE = FieldCatalogue(
    raw_value=lambda raw, name: (raw.get("properties") or {}).get(name),
    coerce={"str": text_value, "number": hs_float, "int": hs_int, "date": hs_date, "datetime": hs_datetime,
            "bool": hs_bool},
    compatible={"str": _TEXT, "number": frozenset({"number"}), "int": frozenset({"number"}),
                "date": frozenset({"date", "datetime"}), "datetime": frozenset({"date", "datetime"}),
                "bool": frozenset({"bool"})},
    defaults={
        "lead": {"first_name": "firstname", "last_name": "lastname", "email": "email", "company": "company",
                 "title": "jobtitle", "industry": "industry", "country": "country",
                 "lead_source": "hs_analytics_source", "status": "hs_lead_status"},
        "opportunity": {"name": "dealname", "stage": "dealstage", "amount": "amount", "close_date": "closedate",
                        "lead_source": "hs_analytics_source", "type": "dealtype", "product": "product"},
        "account": {"name": "name", "industry": "industry", "website": "website",
                    "annual_revenue": "annualrevenue", "employees": "numberofemployees", "country": "country",
                    "year_established": "founded_year"},
    },
    remote_fields=remote_fields,
)
