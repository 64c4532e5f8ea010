"""Pipeline health for a team or a rep: open pipeline by stage, coverage, velocity, the deals closing in
the period, and (from their own modules) stage-to-stage conversion and stalled deals. Every figure is
aggregated in SQL; Python only shapes the few rows.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scoring.deals_as_of import Period
from scoring.team import deal_totals
from scoring.team.stage_stats import stage_order, stage_p75_days, stage_stats
from scoring.team.stalled import DEFAULT_IDLE_DAYS, STALLED_LIMIT, stalled_deals
from scoring.team.views import HISTORY_DAYS, Table, live_opportunities, ratio, record_links
from sync.stages import stage_names
from sync.store import Opportunity


def stage_breakdown(session: Session, organization_id: int, owners) -> Table:
    """Open deals by stage (its label; stages that share one are counted together): count and amount,
    from the deal rollup (sync.deal_months)."""
    rows = deal_totals.open_by_stage(session, organization_id, owners)
    names, merged = stage_names(session, organization_id), {}
    for connection_id, stage, count, amount in rows:
        row = merged.setdefault(names.label(stage, connection_id) or "(no stage)", [0, 0.0])
        row[0], row[1] = row[0] + count, row[1] + float(amount)
    table = Table("stages", [("stage", "Stage"), ("deals", "Open deals"), ("amount", "Amount")],
                  [{"stage": label, "deals": count, "amount": amount}
                   for label, (count, amount) in sorted(merged.items(), key=lambda item: names.sort_key(item[0]))])
    table.totals = {"stage": "Total", "deals": sum(r["deals"] for r in table.rows),
                    "amount": sum(r["amount"] for r in table.rows)}
    return table


def period_figures(session: Session, organization_id: int, owners, period: Period, as_of: date,
                   group_by_owner: bool = False) -> list[dict[str, Any]]:
    """Open pipeline closing in the period and revenue won in it so far (per owner if asked).

    Summed from the deal rollup (sync.deal_months); an owner counts when they have an open deal or one
    closed since the period began.
    """
    upto = min(as_of, period.end)
    won = deal_totals.closed_totals(session, organization_id, owners, period.start, upto)
    out = []
    for owner, deals, amount, in_period, in_period_amount in deal_totals.open_and_closed_since(
            session, organization_id, owners, period.start, period.end):
        totals = won.get(owner)
        out.append({"open_in_period": in_period_amount, "open_in_period_deals": in_period,
                    "won": totals.won_amount if totals else 0.0, "open_deals": deals, "open_amount": amount,
                    "owner": owner})
    if group_by_owner:
        return out
    keys = ("open_in_period", "open_in_period_deals", "won", "open_deals", "open_amount")
    return [{**{key: sum(row[key] for row in out) for key in keys}, "owner": None}]


def coverage_of(open_in_period: float, won: float, quota: float | None) -> dict[str, Any]:
    """Coverage = open pipeline closing in the period ÷ (quota − won so far), worded for the panel."""
    if not quota:
        return {"quota": None, "remaining": None, "coverage": None, "coverage_text": "no quota set"}
    remaining = quota - won
    if remaining <= 0:
        return {"quota": quota, "remaining": 0.0, "coverage": None, "coverage_text": "quota met"}
    value = open_in_period / remaining
    return {"quota": quota, "remaining": remaining, "coverage": value, "coverage_text": f"{value:.1f}×"}


def velocity(session: Session, organization_id: int, owners, as_of: date,
             open_deals: int | None = None) -> dict[str, Any]:
    """Sales velocity per day: open deals × win rate × average won size ÷ average cycle (days)."""
    since = as_of - timedelta(days=HISTORY_DAYS)
    totals = deal_totals.Totals()
    for owner_totals in deal_totals.closed_totals(session, organization_id, owners, since, as_of).values():
        totals.add(owner_totals.closed, owner_totals.won, owner_totals.won_amount, owner_totals.won_amounts,
                   owner_totals.won_cycle_days, owner_totals.won_cycles)
    if open_deals is None:
        open_deals = sum(deals for _, _, deals, _ in deal_totals.open_by_stage(session, organization_id, owners))
    closed, won_count = totals.closed, totals.won
    win_rate = ratio(won_count, closed)
    avg_won, avg_cycle = totals.avg_won, totals.avg_cycle_days
    per_day = (open_deals * win_rate * avg_won / avg_cycle
               if win_rate is not None and avg_won and avg_cycle and avg_cycle > 0 else None)
    return {"open_deals": int(open_deals), "closed": closed, "won": won_count, "win_rate": win_rate,
            "avg_won": avg_won, "avg_cycle_days": avg_cycle, "per_day": per_day,
            "per_30_days": per_day * 30 if per_day is not None else None}


def deals_closing(session: Session, organization_id: int, owners, period: Period,
                  names: dict[str, str], limit: int = STALLED_LIMIT * 4) -> Table:
    """A rep's open deals expected to close by the period's end (overdue ones too), largest first."""
    crm_link = record_links(session, organization_id)
    rows = session.execute(
        select(Opportunity.connection_id, Opportunity.remote_id, Opportunity.name, Opportunity.owner_remote_id,
               Opportunity.stage, Opportunity.amount, Opportunity.close_date)
        .where(*live_opportunities(organization_id, owners), Opportunity.is_closed.is_(False),
               Opportunity.close_date < period.end)
        .order_by(Opportunity.amount.desc().nulls_last(), Opportunity.remote_id).limit(limit))
    table = Table("closing", [("name", "Deal"), ("owner_name", "Owner"), ("stage", "Stage"), ("amount", "Amount"),
                              ("close_date", "Close date"), ("url", "CRM link")],
                  note=f"Open deals with a close date before the end of {period.label} (overdue ones included).")
    stages = stage_names(session, organization_id)
    for conn_id, remote_id, name, owner, stage, amount, close_date in rows:
        table.rows.append({"remote_id": remote_id, "name": name or remote_id, "owner": owner,
                           "owner_name": names.get(owner, owner), "stage": stages.label(stage, conn_id),
                           "amount": amount,
                           "close_date": close_date,
                           "url": crm_link(conn_id, "opportunity", remote_id)})
    return table


def pipeline_health(session: Session, organization_id: int, subject, period: Period, as_of: date,
                    names: dict[str, str], idle_days: int = DEFAULT_IDLE_DAYS) -> dict[str, Any]:
    """The pipeline-health view: figures, then the stage, owner, conversion and stalled tables."""
    from scoring.forecast.quotas import quota_for, quotas_by_owner

    owners = subject.owners
    per_owner = period_figures(session, organization_id, owners, period, as_of, group_by_owner=True)
    keys = ("open_in_period", "open_in_period_deals", "won", "open_deals", "open_amount")
    totals = {key: sum(row[key] for row in per_owner) for key in keys}
    quota = quota_for(session, organization_id, period.label, subject)
    stages = stage_breakdown(session, organization_id, owners)
    figures = {**totals, **coverage_of(totals["open_in_period"], totals["won"], quota),
               "velocity": velocity(session, organization_id, owners, as_of, stages.totals["deals"])}
    tables = [stages]
    if subject.kind != "rep":
        quotas = quotas_by_owner(session, organization_id, period.label, owners)
        by_owner = Table("owners", [("name", "Owner"), ("open_deals", "Open deals"),
                                    ("open_amount", "Open amount"), ("open_in_period", "Closing this period"),
                                    ("won", "Won so far"), ("quota", "Quota"), ("coverage_text", "Coverage")])
        for row in per_owner:
            owner = row["owner"] or ""
            by_owner.rows.append({**row, "name": names.get(owner, owner or "Unassigned"),
                                  **coverage_of(row["open_in_period"], row["won"], quotas.get(owner))})
        by_owner.rows.sort(key=lambda r: (-r["open_amount"], r["name"]))
        tables.append(by_owner)
    # A stage's usual length is the team's (a rep is measured against their manager's team); when
    # the team is the subject, one pass over the stage entries gives conversion and P75 together.
    conversion, p75 = stage_stats(session, organization_id, owners, as_of, with_p75=subject.peers == owners)
    if subject.peers != owners:
        p75 = stage_p75_days(session, organization_id, as_of, subject.peers)
    labels = stage_names(session, organization_id)
    order = stage_order(conversion.rows, labels)
    stages.rows.sort(key=lambda r: labels.sort_key(r["stage"], order.get(r["stage"], len(order))))
    tables.append(conversion)
    tables.append(stalled_deals(session, organization_id, owners, as_of, idle_days, p75=p75))
    if subject.kind == "rep":
        tables.append(deals_closing(session, organization_id, owners, period, names))
    return {"figures": figures, "tables": tables}
