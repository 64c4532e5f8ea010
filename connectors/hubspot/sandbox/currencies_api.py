"""Settings API, Currencies (v3): the company currency and the current exchange rates, read-only here.

Shapes from HubSpot's settings-multicurrency v3 description (Get the company currency: ``{id,
createdAt}`` with the code as ``id``; Get all current exchange rates: ``{results: [ExchangeRate]}``
with ``id, fromCurrencyCode, toCurrencyCode, conversionRate, effectiveAt, visibleInUI, createdAt,
updatedAt``). The scope ``settings.currencies.read`` is enforced by the API gate (scopes.py).
"""
from __future__ import annotations

from flask import jsonify

from .api import api_blueprint, sandbox
from .currencies import portal_currencies

bp = api_blueprint("hubspot_currencies", "/settings/v3/currencies")


@bp.get("/company-currency")
def company_currency():
    """The company currency's code (as ``id``) and when it was set."""
    found = portal_currencies(sandbox().store)
    return jsonify({"createdAt": found["created_at"] or "2016-01-01T00:00:00.000Z", "id": found["company"]})


@bp.get("/exchange-rates/current")
def current_exchange_rates():
    """One current rate per additional currency, into the company currency."""
    found = portal_currencies(sandbox().store)
    stamp = found["created_at"] or "2016-01-01T00:00:00.000Z"
    return jsonify({"results": [
        {"id": str(index), "fromCurrencyCode": code, "toCurrencyCode": found["company"], "conversionRate": rate,
         "effectiveAt": stamp, "visibleInUI": True, "createdAt": stamp, "updatedAt": stamp}
        for index, (code, rate) in enumerate(sorted(found["rates"].items()), start=1)]})
