"""Pipeline health for a team or a rep: open pipeline by stage, coverage, velocity, stage-to-stage
conversion and stalled deals. Every figure is aggregated in SQL; Python only shapes the few rows.

Windows: "history" means deals closed (or stage changes made) in the 365 days before as_of.
A stage's P75 duration is the nearest-rank 75th percentile of completed stays in it, among the
deals of the team being looked at (the whole organization for an admin).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, cast, func, literal, null, select
from sqlalchemy.orm import Session

from connectors import registry
from scoring.deals_as_of import Period
from scoring.scope import owner_filter
from scoring.team import deal_totals
from scoring.team.stage_windows import entry_conditions, nearest_rank_p75, organization_stage_tallies
from sync.sql_time import days_between  # noqa: F401  (the views' day arithmetic, used across scoring)
from sync.stages import StageNames, stage_names
from sync.store import Connection, Opportunity
from sync.store.rollups import OpportunityStageFact

HISTORY_DAYS = 365
DEFAULT_IDLE_DAYS = 14
STALLED_LIMIT = 50


@dataclass
class Table:
    """One exportable table of a view: column keys and labels, rows, and a totals row."""

    name: str
    columns: list[tuple[str, str]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def midnight(day: date) -> datetime:
    """A date as the naive-UTC datetime at its start."""
    return datetime(day.year, day.month, day.day)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when the denominator is empty."""
    return float(numerator or 0) / float(denominator) if denominator else None


def live_opportunities(organization_id: int, owners):
    """WHERE clauses: the organization's undeleted opportunities owned inside the scope."""
    return (Opportunity.organization_id == organization_id, Opportunity.deleted_at.is_(None),
            owner_filter(Opportunity.owner_remote_id, owners))


def won_lost_stages(session: Session, organization_id: int, owners,
                    since: date | None = None) -> tuple[set[str], set[str]]:
    """The stage names closed deals carry (closed since a day, if given): (won stages, lost stages)."""
    if since is not None:  # whole months from the deal rollup (sync.deal_months)
        rows = deal_totals.closed_stages_since(session, organization_id, owners, since)
    else:
        rows = session.execute(select(Opportunity.stage, Opportunity.is_won).distinct().where(
            *live_opportunities(organization_id, owners), Opportunity.is_closed.is_(True))).all()
    won = {stage for stage, is_won in rows if stage and is_won}
    return won | {"Closed Won", "Won"}, {stage for stage, is_won in rows if stage and not is_won} - won


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


def stage_entries(organization_id: int, owners, since: datetime | None, until: datetime,
                  open_only: bool = False):
    """A query of stage entries made in [since, until) (a change whose stage differs from the one before
    it in the window), each with the next entry in the window, read from the stage facts (sync.rollups).

    Inside a window, a deal's first change is an entry even when the change before the window had the
    same stage; an entry's next is the deal's next entry if that came before ``until``.
    """
    fact = OpportunityStageFact
    conditions = entry_conditions(organization_id, owners, since, until, open_only)
    ended = fact.next_at < until
    return select(fact.connection_id, fact.opportunity_remote_id, fact.stage, fact.changed_at,
                  fact.owner_remote_id.label("owner"), fact.deal_stage.label("current_stage"),
                  case((ended, fact.next_stage)).label("next_stage"),
                  case((ended, fact.next_at)).label("next_at")).where(*conditions)


CONVERSION_COLUMNS = [("stage", "Stage"), ("entered", "Entered"), ("advanced", "Moved on"), ("lost", "Lost"),
                      ("still_in", "Still in stage"), ("conversion", "Conversion"),
                      ("avg_days", "Average days in stage")]


def stage_stats(session: Session, organization_id: int, owners, as_of: date, by_owner: bool = False,
                with_p75: bool = False, from_facts: bool = False) -> tuple[Table, dict[str, float]]:
    """Stage-to-stage conversion and (if asked) each stage's P75 stay, from one pass over the entries.

    Of the deals that entered each open stage in the last year: how many moved on, were lost, are
    still in it. The P75 is the nearest-rank 75th percentile of the completed stays. The whole
    organization's come from the stage entry months (scoring.team.stage_windows) unless ``from_facts``
    (with a P75, on PostgreSQL only).
    """
    since, until = midnight(as_of - timedelta(days=HISTORY_DAYS)), midnight(as_of)
    won_stages, lost_stages = won_lost_stages(session, organization_id, owners, since.date())
    closing_stages = won_stages | lost_stages
    # The P75's reads of one day's stays need PostgreSQL's expression index: SQLite scans the facts instead.
    postgresql = session.get_bind().dialect.name == "postgresql"
    if owners is None and not from_facts and (by_owner or with_p75) and (postgresql or not with_p75):
        return _organization_stage_stats(session, organization_id, since, until, lost_stages, closing_stages,
                                         by_owner, with_p75)
    # On PostgreSQL the team's P75 comes from the same pass as the conversion (percentile_disc skips
    # the stays still going on, whose duration is NULL); the closing stages' rows only give their P75.
    one_pass = with_p75 and not by_owner and session.get_bind().dialect.name == "postgresql"
    stays = stage_entries(organization_id, owners, since, until)
    stays = stays.subquery("stays") if one_pass else stays.cte("stays")
    lost = stays.c.next_stage.in_(sorted(lost_stages)) if lost_stages else literal(False)
    owner = stays.c.owner if by_owner else cast(null(), String)
    days = days_between(stays.c.changed_at, stays.c.next_at)
    statement = (select(literal("c").label("kind"), stays.c.stage, owner.label("owner"), func.count().label("n"),
                        func.sum(case((and_(stays.c.next_stage.is_not(None), ~lost), 1), else_=0)).label("advanced"),
                        func.sum(case((lost, 1), else_=0)).label("lost"), func.avg(days).label("days"),
                        *([func.percentile_disc(0.75).within_group(days)] if one_pass else []))
                 .group_by(stays.c.stage, *([stays.c.owner] if by_owner else [])))
    if not one_pass:
        statement = statement.where(stays.c.stage.not_in(sorted(closing_stages)))
    if with_p75 and not one_pass:
        durations = (select(stays.c.stage, days_between(stays.c.changed_at, stays.c.next_at).label("days"))
                     .where(stays.c.next_at.is_not(None)).subquery("durations"))
        statement = statement.union_all(_p75_by_stage(session, durations))
    table = Table("conversion", list(CONVERSION_COLUMNS), note="Deals that entered each stage in the last 365 days.")
    p75: dict[str, float] = {}
    for kind, stage, row_owner, entered, advanced, lost_count, days, *rest in session.execute(statement):
        if kind == "p":
            p75[stage] = float(days)
            continue
        if one_pass:
            if rest[0] is not None:
                p75[stage] = float(rest[0])
            if stage in closing_stages:
                continue
        entered, advanced, lost_count = int(entered), int(advanced or 0), int(lost_count or 0)
        table.rows.append({"stage": stage, **({"owner": row_owner} if by_owner else {}),
                           "entered": entered, "advanced": advanced, "lost": lost_count,
                           "still_in": entered - advanced - lost_count, "conversion": ratio(advanced, entered),
                           "avg_days": float(days) if days is not None else None})
    names = stage_names(session, organization_id)
    names.relabel(table.rows)
    order = stage_order(table.rows, names)
    table.rows.sort(key=lambda r: (order.get(r["stage"], len(order)), r["stage"], r.get("owner") or ""))
    return table, p75


def _organization_stage_stats(session: Session, organization_id: int, since: datetime, until: datetime,
                              lost_stages: set[str], closing_stages: set[str], by_owner: bool,
                              with_p75: bool) -> tuple[Table, dict[str, float]]:
    """stage_stats for the whole organization, from the stage entry months: the same rows and P75s."""
    table = Table("conversion", list(CONVERSION_COLUMNS), note="Deals that entered each stage in the last 365 days.")
    p75: dict[str, float] = {}
    if with_p75:
        tallies = organization_stage_tallies(session, organization_id, since, until, lost_stages)
        for stage in sorted(tallies):
            value = nearest_rank_p75(session, organization_id, since, until, stage, tallies[stage])
            if value is not None:
                p75[stage] = value
    if by_owner:
        tallies = organization_stage_tallies(session, organization_id, since, until, lost_stages, by_owner=True)
    for key in sorted(tallies, key=lambda k: tuple(v or "" for v in k) if by_owner else k):
        owner, stage = key if by_owner else (None, key)
        if stage in closing_stages:
            continue
        tally = tallies[key]
        lost_count = tally.lost
        advanced = tally.ended - lost_count
        table.rows.append({"stage": stage, **({"owner": owner} if by_owner else {}), "entered": tally.entered,
                           "advanced": advanced, "lost": lost_count,
                           "still_in": tally.entered - advanced - lost_count,
                           "conversion": ratio(advanced, tally.entered),
                           "avg_days": tally.days / tally.ended if tally.ended else None})
    names = stage_names(session, organization_id)
    names.relabel(table.rows)
    order = stage_order(table.rows, names)
    table.rows.sort(key=lambda r: (order.get(r["stage"], len(order)), r["stage"], r.get("owner") or ""))
    return table, p75


def _p75_by_stage(session: Session, durations):
    """Per stage, the nearest-rank P75 of the durations (the smallest with rank × 4 ≥ count × 3), as p-rows."""
    def p_row(stage, value):
        return select(literal("p"), stage, cast(null(), String), literal(0), literal(0), literal(0), value)

    if session.get_bind().dialect.name == "postgresql":
        # percentile_disc is that nearest rank, with one sort instead of two window passes.
        return p_row(durations.c.stage, func.percentile_disc(0.75).within_group(durations.c.days)
                     ).group_by(durations.c.stage)
    ranked = select(durations.c.stage, durations.c.days,
                    func.row_number().over(partition_by=durations.c.stage, order_by=durations.c.days).label("rank"),
                    func.count().over(partition_by=durations.c.stage).label("total")).subquery("ranked")
    return (p_row(ranked.c.stage, func.min(ranked.c.days))
            .where(ranked.c.rank * 4 >= ranked.c.total * 3).group_by(ranked.c.stage))


def stage_conversion(session: Session, organization_id: int, owners, as_of: date,
                     by_owner: bool = False) -> Table:
    """Per open stage, of the deals that entered it in the last year: how many moved on, lost, still in."""
    return stage_stats(session, organization_id, owners, as_of, by_owner)[0]


def stage_order(rows: list[dict[str, Any]], names: StageNames | None = None) -> dict[str, int]:
    """Funnel order of stages: the CRM's board order where it is known, else the most entered first."""
    entered: dict[str, int] = {}
    for row in rows:
        entered[row["stage"]] = entered.get(row["stage"], 0) + row["entered"]
    by_entries = {stage: i for i, stage in enumerate(sorted(entered, key=lambda s: (-entered[s], s)))}
    names = names or StageNames(())
    return {stage: i for i, stage in enumerate(sorted(entered, key=lambda s: names.sort_key(s, by_entries[s])))}


def stage_p75_days(session: Session, organization_id: int, as_of: date, owners=None) -> dict[str, float]:
    """Nearest-rank P75 of completed stays per stage over the last year, among the owners' deals."""
    return stage_stats(session, organization_id, owners, as_of, with_p75=True)[1]


def record_url(connection: Connection | None, object_type: str, remote_id: str) -> str | None:
    """The record's page in its CRM, as its provider builds it."""
    if connection is None:
        return None
    return registry.get(connection.provider).provider.record_url(
        connection.instance_url or "", connection.remote_org_id, object_type, remote_id)


def deals_closing(session: Session, organization_id: int, owners, period: Period,
                  names: dict[str, str], limit: int = STALLED_LIMIT * 4) -> Table:
    """A rep's open deals expected to close by the period's end (overdue ones too), largest first."""
    connections = {c.id: c for c in session.scalars(
        select(Connection).where(Connection.organization_id == organization_id))}
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
                           "url": record_url(connections.get(conn_id), "opportunity", remote_id)})
    return table


def pipeline_health(session: Session, organization_id: int, subject, period: Period, as_of: date,
                    names: dict[str, str], idle_days: int = DEFAULT_IDLE_DAYS) -> dict[str, Any]:
    """The pipeline-health view: figures, then the stage, owner, conversion and stalled tables."""
    from scoring.forecast.quotas import quota_for, quotas_by_owner
    from scoring.team.stalled import stalled_deals

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
