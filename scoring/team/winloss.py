"""Win/loss of the deals closed in a period, by product, sector, region, deal size band and rep."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from scoring.deals_as_of import Period
from scoring.team.views import Table, live_opportunities, ratio, record_links
from sync.store import Account, Opportunity, User

# Upper bounds of the deal size bands; the last band is open-ended.
SIZE_BANDS = ((1_000, "Under 1,000"), (10_000, "1,000 to 9,999"), (50_000, "10,000 to 49,999"),
              (None, "50,000 and over"))
DIMENSIONS = {"product": "Product", "sector": "Sector", "region": "Region", "size": "Deal size",
              "rep": "Rep"}
DEALS_LIMIT = 200


def size_band():
    """The band index of a deal's amount, as SQL."""
    whens = [(Opportunity.amount < bound, index) for index, (bound, _) in enumerate(SIZE_BANDS) if bound]
    return case(*whens, else_=len(SIZE_BANDS) - 1)


def closed_in(period: Period, as_of: date):
    """Deals closed inside the period, up to as_of."""
    return and_(Opportunity.is_closed.is_(True), Opportunity.close_date >= period.start,
                Opportunity.close_date < min(period.end, as_of))


def win_loss(session: Session, organization_id: int, owners, period: Period, as_of: date,
             dimension: str, names: dict[str, str]) -> Table:
    """Won and lost deals, win rate and won amounts, grouped by one dimension."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"Win/loss groups by {', '.join(DIMENSIONS)}, not {dimension!r}.")
    won = Opportunity.is_won.is_(True)
    key = {"product": Opportunity.product, "sector": Account.industry, "region": User.team,
           "size": size_band(), "rep": Opportunity.owner_remote_id}[dimension].label("key")
    query = (select(key, func.sum(case((won, 1), else_=0)), func.sum(case((won, 0), else_=1)),
                    func.coalesce(func.sum(case((won, Opportunity.amount), else_=0.0)), 0.0),
                    func.avg(case((won, Opportunity.amount))))
             .where(*live_opportunities(organization_id, owners), closed_in(period, as_of))
             .group_by(key))
    if dimension == "sector":
        query = query.outerjoin(Account, and_(Account.connection_id == Opportunity.connection_id,
                                              Account.remote_id == Opportunity.account_remote_id))
    if dimension == "region":
        query = query.outerjoin(User, and_(User.connection_id == Opportunity.connection_id,
                                           User.remote_id == Opportunity.owner_remote_id))
    table = Table(f"winloss-{dimension}", [("value", DIMENSIONS[dimension]), ("won", "Won"), ("lost", "Lost"),
                                           ("win_rate", "Win rate"), ("won_amount", "Won amount"),
                                           ("avg_won", "Average won deal")],
                  note=f"Deals closed in {period.label} up to {as_of.isoformat()}.")
    for value, won_count, lost_count, won_amount, avg_won in session.execute(query):
        label = _label(dimension, value, names)
        table.rows.append({"key": value, "value": label, "won": int(won_count or 0), "lost": int(lost_count or 0),
                           "win_rate": ratio(won_count, (won_count or 0) + (lost_count or 0)),
                           "won_amount": float(won_amount or 0),
                           "avg_won": float(avg_won) if avg_won is not None else None})
    if dimension == "size":
        table.rows.sort(key=lambda r: r["key"])
    else:
        table.rows.sort(key=lambda r: (-(r["won"] + r["lost"]), r["value"]))
    won_total, lost_total = sum(r["won"] for r in table.rows), sum(r["lost"] for r in table.rows)
    won_amount = sum(r["won_amount"] for r in table.rows)
    table.totals = {"value": "Total", "won": won_total, "lost": lost_total,
                    "win_rate": ratio(won_total, won_total + lost_total), "won_amount": won_amount,
                    "avg_won": won_amount / won_total if won_total else None}
    return table


def _label(dimension: str, value: Any, names: dict[str, str]) -> str:
    if dimension == "size":
        return SIZE_BANDS[int(value)][1]
    if dimension == "rep":
        return names.get(value, value) if value else "Unassigned"
    return value or {"product": "(no product)", "sector": "(no account or sector)",
                     "region": "(no team)"}[dimension]


def closed_deals(session: Session, organization_id: int, owners, period: Period, as_of: date,
                 names: dict[str, str], limit: int = DEALS_LIMIT) -> Table:
    """The deals behind the figures (a rep's drill-down), newest close first, with CRM links."""
    crm_link = record_links(session, organization_id)
    rows = session.execute(
        select(Opportunity.connection_id, Opportunity.remote_id, Opportunity.name, Opportunity.owner_remote_id,
               Opportunity.product, Opportunity.amount, Opportunity.close_date, Opportunity.is_won)
        .where(*live_opportunities(organization_id, owners), closed_in(period, as_of))
        .order_by(Opportunity.close_date.desc(), Opportunity.remote_id).limit(limit))
    table = Table("deals", [("name", "Deal"), ("owner_name", "Owner"), ("product", "Product"),
                            ("amount", "Amount"), ("close_date", "Closed"), ("outcome", "Outcome"),
                            ("url", "CRM link")])
    for conn_id, remote_id, name, owner, product, amount, close_date, is_won in rows:
        table.rows.append({"remote_id": remote_id, "name": name or remote_id, "owner": owner,
                           "owner_name": names.get(owner, owner), "product": product, "amount": amount,
                           "close_date": close_date, "outcome": "Won" if is_won else "Lost",
                           "url": crm_link(conn_id, "opportunity", remote_id)})
    return table


def win_loss_view(session: Session, organization_id: int, subject, period: Period, as_of: date,
                  names: dict[str, str]) -> dict[str, Any]:
    """Every dimension's table; a rep's view adds the deals themselves."""
    dimensions = [d for d in DIMENSIONS if not (subject.kind == "rep" and d in ("rep", "region"))]
    tables = [win_loss(session, organization_id, subject.owners, period, as_of, d, names) for d in dimensions]
    if subject.kind == "rep":
        tables.append(closed_deals(session, organization_id, subject.owners, period, as_of, names))
    return {"tables": tables}
