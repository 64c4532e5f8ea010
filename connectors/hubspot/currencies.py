"""A portal's company currency and exchange rates (the Settings API's Currencies endpoints).

HubSpot's Currencies guide and its settings-multicurrency v3 description: ``GET
/settings/v3/currencies/company-currency`` answers ``{id, createdAt}`` where ``id`` is the company
currency's code; ``GET /settings/v3/currencies/exchange-rates/current`` answers ``{results: [{id,
fromCurrencyCode, toCurrencyCode, conversionRate, effectiveAt, visibleInUI, createdAt, updatedAt}]}``,
and a rate is "the exchange rate from the additional currency to your company currency". Both need
``settings.currencies.read``. The hubspot-api-client has no Currencies API, so the calls go through
its generic ``call_api`` (same host, TLS settings and error classes as every other call).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.hubspot.sdk import Call

COMPANY_PATH = "/settings/v3/currencies/company-currency"
RATES_PATH = "/settings/v3/currencies/exchange-rates/current"
COMPANY_RECORD_ID = "company-currency"


def _get(path: str) -> Callable[[Any, float], Any]:
    def fetch(api: Any, timeout: float) -> Any:
        return api.api_client.call_api(path, "GET", header_params={"Accept": "application/json"},
                                       auth_settings=["oauth2"], _return_http_data_only=True,
                                       _preload_content=False, _request_timeout=timeout)
    return fetch


def read_currencies(call: Call) -> list[dict[str, Any]]:
    """The company currency as one record, then each current rate into it (inverted where HubSpot
    states only the company-to-currency direction), ordered as the sync engine checkpoints."""
    company = call("basic", _get(COMPANY_PATH)) or {}
    code = company.get("id")
    if not code:
        return []
    records: list[dict[str, Any]] = [{"id": COMPANY_RECORD_ID, "currencyCode": code, "isCorporate": True,
                                      "conversionRate": 1.0, "createdAt": company.get("createdAt"),
                                      "updatedAt": company.get("createdAt")}]
    rates = (call("basic", _get(RATES_PATH)) or {}).get("results") or []
    direct = {r.get("fromCurrencyCode") for r in rates if r.get("toCurrencyCode") == code}
    for rate in rates:
        value = rate.get("conversionRate")
        if not isinstance(value, (int, float)) or value <= 0:
            continue
        if rate.get("toCurrencyCode") == code and rate.get("fromCurrencyCode") != code:
            records.append({**rate, "currencyCode": rate["fromCurrencyCode"], "toCompany": float(value)})
        elif rate.get("fromCurrencyCode") == code and rate.get("toCurrencyCode") not in direct | {code}:
            records.append({**rate, "currencyCode": rate["toCurrencyCode"], "toCompany": 1 / float(value)})
    return records
