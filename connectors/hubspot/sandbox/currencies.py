"""The portal's currencies: the company currency, the other currencies' rates into it, and seeded deals in them.

From HubSpot's Currencies guide: a portal has one company currency ("used in deal totals, reports,
and the default currency for new deals") and, depending on the subscription, further currencies,
each with an exchange rate "from the additional currency to your company currency"; a deal's
currency is its ``deal_currency_code``. The default portal has one currency, and its seeded deals
carry no currency code, so their figures are those of the single-currency seed.
"""
from __future__ import annotations

import json
from typing import Any

META_KEY = "currencies"


def seed_currencies(store: Any, deals: list[dict[str, Any]], company: str, currencies: dict[str, Any] | None,
                    stamp: str) -> None:
    """Remember the portal's currencies and give every deal its currency (a share in the others)."""
    rates = {code: float(rate) for code, rate in ((currencies or {}).get("rates") or {}).items()}
    store.set_meta(META_KEY, json.dumps({"company": company, "created_at": stamp, "rates": rates}))
    if not currencies:
        return
    shares = list((currencies.get("deals") or {}).items())
    for index, deal in enumerate(deals):
        deal["props"]["deal_currency_code"] = next((c for c, every in shares if index % int(every) == 0), company)


def portal_currencies(store: Any) -> dict[str, Any]:
    """{company, created_at, rates: {code: rate into the company currency}}."""
    return json.loads(store.meta(META_KEY) or '{"company": "USD", "created_at": null, "rates": {}}')
