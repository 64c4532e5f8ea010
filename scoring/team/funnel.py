"""The lead funnel: lead → converted → opportunity → won, with conversion and days between steps,
by lead source, by campaign and by owner, for leads created in the period (up to as_of).

A lead that belongs to several campaigns counts once in each; the totals count it once.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from scoring.deals_as_of import Period, midnight
from scoring.scope import owner_filter
from scoring.team.views import Table, ratio, record_links
from sync.sql_time import days_between
from sync.stages import stage_names
from sync.store import Campaign, CampaignMember, Lead, Opportunity

GROUPINGS = {"source": "Lead source", "campaign": "Campaign", "rep": "Owner"}
COLUMNS = [("leads", "Leads"), ("converted", "Converted"), ("opportunities", "Opportunities"),
           ("won", "Won"), ("lead_to_converted", "Lead → converted"),
           ("converted_to_opportunity", "Converted → opportunity"), ("opportunity_to_won", "Opportunity → won"),
           ("lead_to_won", "Lead → won"), ("days_to_convert", "Days to convert"),
           ("days_to_opportunity", "Days convert → opportunity"), ("days_to_win", "Days opportunity → won")]
LEADS_LIMIT = 200


def _days(earlier, later):
    # Whole calendar days: a close date (or Salesforce's ConvertedDate) is a day, so a deal created and won
    # on one day took 0 days, not minus the hours before its creation.
    # date() is SQLite's function and PostgreSQL's function-style cast alike.
    return days_between(func.date(earlier), func.date(later))


def _funnel_columns():
    """The aggregate columns every grouping shares."""
    has_opp = Opportunity.id.is_not(None)
    won = and_(has_opp, Opportunity.is_won.is_(True))
    return [func.count(func.distinct(Lead.id)),
            func.count(func.distinct(case((Lead.is_converted.is_(True), Lead.id)))),
            func.count(func.distinct(case((has_opp, Lead.id)))),
            func.count(func.distinct(case((won, Lead.id)))),
            func.avg(_days(Lead.remote_created_at, Lead.converted_at)),
            func.avg(case((has_opp, _days(Lead.converted_at, Opportunity.remote_created_at)))),
            func.avg(case((won, _days(Opportunity.remote_created_at, Opportunity.close_date))))]


def _base(query, organization_id: int, owners, period: Period, as_of: date):
    upto = min(period.end, as_of)
    return (query.select_from(Lead)
            .outerjoin(Opportunity, and_(Opportunity.connection_id == Lead.connection_id,
                                         Opportunity.remote_id == Lead.converted_opportunity_remote_id,
                                         Opportunity.deleted_at.is_(None)))
            .where(Lead.organization_id == organization_id, Lead.deleted_at.is_(None),
                   Lead.remote_created_at >= midnight(period.start), Lead.remote_created_at < midnight(upto),
                   owner_filter(Lead.owner_remote_id, owners)))


def _row(label: str, values) -> dict[str, Any]:
    leads, converted, opportunities, won, to_convert, to_opp, to_win = values
    return {"value": label, "leads": int(leads or 0), "converted": int(converted or 0),
            "opportunities": int(opportunities or 0), "won": int(won or 0),
            "lead_to_converted": ratio(converted, leads), "converted_to_opportunity": ratio(opportunities, converted),
            "opportunity_to_won": ratio(won, opportunities), "lead_to_won": ratio(won, leads),
            "days_to_convert": float(to_convert) if to_convert is not None else None,
            "days_to_opportunity": float(to_opp) if to_opp is not None else None,
            "days_to_win": float(to_win) if to_win is not None else None}


def funnel(session: Session, organization_id: int, owners, period: Period, as_of: date, grouping: str,
           names: dict[str, str]) -> Table:
    """The funnel grouped by lead source, campaign or owner, with a totals row."""
    if grouping not in GROUPINGS:
        raise ValueError(f"The funnel groups by {', '.join(GROUPINGS)}, not {grouping!r}.")
    if grouping == "campaign":
        key = func.coalesce(Campaign.name, CampaignMember.campaign_remote_id).label("key")
    else:
        key = {"source": Lead.lead_source, "rep": Lead.owner_remote_id}[grouping].label("key")
    query = _base(select(key, *_funnel_columns()), organization_id, owners, period, as_of)
    if grouping == "campaign":
        query = (query.outerjoin(CampaignMember, and_(CampaignMember.connection_id == Lead.connection_id,
                                                      CampaignMember.lead_remote_id == Lead.remote_id,
                                                      CampaignMember.deleted_at.is_(None)))
                 .outerjoin(Campaign, and_(Campaign.connection_id == CampaignMember.connection_id,
                                           Campaign.remote_id == CampaignMember.campaign_remote_id)))
    table = Table(f"funnel-{grouping}", [("value", GROUPINGS[grouping]), *COLUMNS],
                  note=f"Leads created in {period.label} up to {as_of.isoformat()}.")
    for key_value, *values in session.execute(query.group_by(key)):
        if grouping == "rep":
            label = names.get(key_value, key_value) if key_value else "Unassigned"
        else:
            label = key_value or ("(no campaign)" if grouping == "campaign" else "(no source)")
        table.rows.append({"key": key_value, **_row(label, values)})
    table.rows.sort(key=lambda r: (-r["leads"], r["value"]))
    total = session.execute(_base(select(*_funnel_columns()), organization_id, owners, period, as_of)).one()
    table.totals = _row("Total", total)
    return table


def converted_leads(session: Session, organization_id: int, owners, period: Period, as_of: date,
                    limit: int = LEADS_LIMIT) -> Table:
    """A rep's converted leads and where their opportunities stand, with CRM links."""
    crm_link = record_links(session, organization_id)
    query = _base(select(Lead.connection_id, Lead.remote_id, Lead.first_name, Lead.last_name, Lead.company,
                         Lead.lead_source, Lead.converted_at, Opportunity.remote_id, Opportunity.stage,
                         Opportunity.amount), organization_id, owners, period, as_of)
    rows = session.execute(query.where(Lead.is_converted.is_(True))
                           .order_by(Lead.converted_at.desc(), Lead.remote_id).limit(limit))
    table = Table("leads", [("name", "Lead"), ("company", "Company"), ("source", "Source"),
                            ("converted_at", "Converted"), ("stage", "Opportunity stage"), ("amount", "Amount"),
                            ("url", "CRM link")])
    stages = stage_names(session, organization_id)
    for conn_id, lead_id, first, last, company, source, converted_at, opp_id, stage, amount in rows:
        table.rows.append({"remote_id": lead_id, "name": " ".join(p for p in (first, last) if p) or lead_id,
                           "company": company, "source": source, "converted_at": converted_at,
                           "stage": stages.label(stage, conn_id), "amount": amount,
                           "url": crm_link(conn_id, "opportunity", opp_id) if opp_id
                           else crm_link(conn_id, "lead", lead_id)})
    return table


def funnel_view(session: Session, organization_id: int, subject, period: Period, as_of: date,
                names: dict[str, str]) -> dict[str, Any]:
    """By source and campaign; a team adds owners, a rep adds their converted leads."""
    tables = [funnel(session, organization_id, subject.owners, period, as_of, g, names)
              for g in ("source", "campaign")]
    if subject.kind == "rep":
        tables.append(converted_leads(session, organization_id, subject.owners, period, as_of))
    else:
        tables.append(funnel(session, organization_id, subject.owners, period, as_of, "rep", names))
    return {"tables": tables}
