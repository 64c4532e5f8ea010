"""Amounts in the organization's corporate currency: conversion at sync time, and what could not be converted.

The store keeps each deal's amount as the CRM sent it (``deal_amount``, in ``currency``) and, in
``amount``, that amount in the corporate currency, so every total the panels, forecasts and
benchmarks add up is in one currency. A deal whose currency has no rate gets ``amount`` None: it is
left out of totals and reported (``unconverted``), never added in its own currency.

Deals, their stage history and CRM quotas are converted. Which rate applies: a dated rate
(Salesforce DatedConversionRate, advanced currency management) whose span holds the deal's close
date (a quota's period start), else the currency's current rate (Salesforce CurrencyType,
HubSpot's current exchange rate). Salesforce converts opportunity amounts by close date the same way
(Object Reference, DatedConversionRate: "dated exchange rates ... for a date range").
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from sync import rollups
from sync.store import CurrencyRate, Opportunity, OpportunityStageChange, Quota

# The tables whose amounts are converted, and the date that picks a dated rate for each row.
CONVERTED_MODELS = {Opportunity: "close_date", OpportunityStageChange: "close_date", Quota: "period_start"}


@dataclass
class Rates:
    """An organization's currencies: the corporate one, current rates and dated spans."""

    corporate: str | None = None
    current: dict[str, float] = field(default_factory=dict)
    dated: dict[str, list[tuple[date, date | None, float]]] = field(default_factory=dict)

    def factor(self, currency: str | None, on: date | None) -> float | None:
        """What one unit of ``currency`` is worth in the corporate currency on a day; None without a rate."""
        if not currency or currency == self.corporate:
            return 1.0
        if on is not None:
            for start, end, rate in self.dated.get(currency, ()):
                if start <= on and (end is None or on < end):
                    return rate
        return self.current.get(currency)

    def convert(self, amount: float | None, currency: str | None, on: date | None) -> float | None:
        """The amount in the corporate currency, or None when it has no rate."""
        if amount is None:
            return None
        rate = self.factor(currency, on)
        return None if rate is None else amount * rate


def load_rates(session: Session, organization_id: int) -> Rates:
    """The organization's live rates, in one query."""
    rates = Rates()
    rows = session.execute(select(CurrencyRate.iso_code, CurrencyRate.is_corporate, CurrencyRate.to_corporate,
                                  CurrencyRate.start_date, CurrencyRate.end_date)
                           .where(CurrencyRate.organization_id == organization_id,
                                  CurrencyRate.deleted_at.is_(None), CurrencyRate.remote_deleted.is_(False)))
    for code, corporate, to_corporate, start, end in rows:
        if not code:
            continue
        if corporate:
            rates.corporate = code
        if to_corporate is None or to_corporate <= 0:
            continue
        if start is None:
            rates.current[code] = to_corporate
        else:
            rates.dated.setdefault(code, []).append((start, end, to_corporate))
    return rates


def corporate_currency(session: Session, organization_id: int) -> str | None:
    """The organization's corporate currency code, when its CRM says which it is."""
    return session.scalar(select(CurrencyRate.iso_code).where(
        CurrencyRate.organization_id == organization_id, CurrencyRate.is_corporate.is_(True),
        CurrencyRate.deleted_at.is_(None), CurrencyRate.remote_deleted.is_(False)).limit(1))


def convert_rows(session: Session, organization_id: int, rows: list[dict[str, Any]], dated_by: str) -> None:
    """Turn mapped rows' CRM amounts into corporate amounts before they are written (one query for the rates)."""
    if not rows:
        return
    rates = load_rates(session, organization_id)
    for row in rows:
        row["deal_amount"] = row.get("amount")
        row["amount"] = rates.convert(row["deal_amount"], row.get("currency"), row.get(dated_by))


def reconvert(session: Session, organization_id: int) -> None:
    """Convert every stored amount again after the rates changed: a few bulk statements per currency."""
    rates = load_rates(session, organization_id)
    for model, dated_by in CONVERTED_MODELS.items():
        day = getattr(model, dated_by)
        scope = (model.organization_id == organization_id,)
        plain = [model.currency.is_(None), model.currency == ""]
        if rates.corporate:
            plain.append(model.currency == rates.corporate)
        session.execute(update(model).where(*scope, or_(*plain)).values(amount=model.deal_amount))
        known = set(rates.current) | set(rates.dated)
        unpriced = and_(model.currency.is_not(None), model.currency != "", model.currency.not_in(
            sorted(known | ({rates.corporate} if rates.corporate else set()))))
        session.execute(update(model).where(*scope, unpriced).values(amount=None))
        for code in sorted(known - {rates.corporate}):
            current = rates.current.get(code)
            session.execute(update(model).where(*scope, model.currency == code).values(
                amount=None if current is None else model.deal_amount * current))
            for start, end, rate in rates.dated.get(code, ()):
                span = [day >= start] + ([day < end] if end else [])
                session.execute(update(model).where(*scope, model.currency == code, *span)
                                .values(amount=model.deal_amount * rate))
    # The deal rollup sums amounts: every one may have changed, so the organization's is summed again.
    rollups.amounts_converted(session, organization_id)


def unconverted(session: Session, organization_id: int, owners: Iterable[str] | None = None) -> dict[str, int]:
    """Live deals with an amount that has no rate to the corporate currency, counted per currency."""
    query = (select(Opportunity.currency, func.count()).where(
        Opportunity.organization_id == organization_id, Opportunity.deleted_at.is_(None),
        Opportunity.deal_amount.is_not(None), Opportunity.amount.is_(None))
        .group_by(Opportunity.currency).order_by(Opportunity.currency))
    if owners is not None:
        query = query.where(Opportunity.owner_remote_id.in_(list(owners)))
    return {code or "?": count for code, count in session.execute(query)}


def missing_rate_sentence(missing: dict[str, int], corporate: str | None) -> str | None:
    """What the panels say when some deals could not be converted; None when all were."""
    if not missing:
        return None
    deals = sum(missing.values())
    codes = ", ".join(sorted(missing))
    target = corporate or "the corporate currency"
    return (f"{deals} deal{'s' if deals != 1 else ''} in {codes} "
            f"{'are' if deals != 1 else 'is'} left out of these totals: the CRM gives no rate from {codes} "
            f"to {target}. Add the exchange rate in the CRM (or grant Pipewise access to the rates), "
            "then sync again.")
