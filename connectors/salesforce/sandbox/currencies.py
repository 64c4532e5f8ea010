"""A multi-currency org: currencies with their rates, and a share of the seeded deals in other currencies.

From the Object Reference: CurrencyType.ConversionRate is "against the corporate currency" (one
corporate unit in the currency; the corporate currency's own rate is 1); DatedConversionRate spans
run from StartDate to the day before NextStartDate, which Salesforce fills from the next span's
start (the last span has none). CurrencyIsoCode sits on every record that carries an amount; a
record's history rows carry the record's currency.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from .schema import CURRENCY_MODES


def apply(rows: Any, currencies: dict[str, Any], created: date, actor: str) -> None:
    """Add the currencies and put the chosen share of deals (and their history) in them."""
    mode = currencies.get("mode", "multi")
    if mode not in CURRENCY_MODES[1:]:
        raise ValueError(f"Unknown currency mode {mode!r}: use multi or advanced.")
    corporate = currencies.get("corporate", "USD")
    rates = {corporate: 1.0, **{code: float(rate) for code, rate in currencies.get("rates", {}).items()}}
    for code, rate in rates.items():
        rows.add("CurrencyType", created, None, actor, IsoCode=code, ConversionRate=rate, DecimalPlaces=2,
                 IsActive=1, IsCorporate=int(code == corporate))
    if mode == "advanced":
        for code, spans in currencies.get("dated", {}).items():
            ordered = sorted((date.fromisoformat(start), float(rate)) for start, rate in spans)
            for index, (start, rate) in enumerate(ordered):
                following = ordered[index + 1][0] if index + 1 < len(ordered) else None
                rows.add("DatedConversionRate", created, None, actor, IsoCode=code, ConversionRate=rate,
                         StartDate=start.isoformat(), NextStartDate=following and following.isoformat())
    of_deal: dict[str, str] = {}
    shares = list(currencies.get("deals", {}).items())
    for index, deal in enumerate(rows.rows["Opportunity"]):
        code = next((c for c, every in shares if index % int(every) == 0), corporate)
        deal["CurrencyIsoCode"] = of_deal[deal["Id"]] = code
    for step in rows.rows["OpportunityHistory"]:
        step["CurrencyIsoCode"] = of_deal.get(step["OpportunityId"], corporate)
    for name in ("Account", "ForecastingQuota"):
        for row in rows.rows[name]:
            row["CurrencyIsoCode"] = corporate
