"""Salesforce's field catalogue for field mapping: standard sources, type compatibility, live describe."""
from __future__ import annotations

from typing import Any

from connectors.field_catalogue import FieldCatalogue, text_value
from connectors.salesforce.mapping import sf_bool, sf_date, sf_datetime, sf_float, sf_int

_TEXT = frozenset({"string", "textarea", "picklist", "multipicklist", "combobox", "email", "phone", "url"})
_NUMBER = frozenset({"double", "currency", "percent", "int"})


def remote_fields(client, remote_name: str) -> list[dict[str, Any]]:
    """The object's fields as [{name, label, type, custom}], from its describe answer."""
    fields = client.describe(remote_name).get("fields", [])
    return [{"name": f["name"], "label": f.get("label") or f["name"], "type": f.get("type"),
             "custom": bool(f.get("custom"))} for f in fields]


CATALOGUE = FieldCatalogue(
    raw_value=lambda raw, name: raw.get(name),
    coerce={"str": text_value, "number": sf_float, "int": sf_int, "date": sf_date, "datetime": sf_datetime,
            "bool": sf_bool},
    compatible={"str": _TEXT, "number": _NUMBER, "int": _NUMBER,
                "date": frozenset({"date", "datetime"}), "datetime": frozenset({"date", "datetime"}),
                "bool": frozenset({"boolean"})},
    defaults={
        "lead": {"first_name": "FirstName", "last_name": "LastName", "email": "Email", "company": "Company",
                 "title": "Title", "industry": "Industry", "country": "Country", "lead_source": "LeadSource",
                 "status": "Status", "rating": "Rating", "is_converted": "IsConverted",
                 "converted_at": "ConvertedDate"},
        "opportunity": {"name": "Name", "stage": "StageName", "amount": "Amount", "probability": "Probability",
                        "close_date": "CloseDate", "is_closed": "IsClosed", "is_won": "IsWon",
                        "lead_source": "LeadSource", "type": "Type",
                        # No standard Opportunity field holds a product: an org's own field may.
                        "product": ""},
        "account": {"name": "Name", "industry": "Industry", "website": "Website",
                    "annual_revenue": "AnnualRevenue", "employees": "NumberOfEmployees",
                    "country": "BillingCountry", "year_established": "YearStarted"},
        "contact": {"first_name": "FirstName", "last_name": "LastName", "email": "Email", "title": "Title",
                    "phone": "Phone", "lead_source": "LeadSource"},
    },
    remote_fields=remote_fields,
)
