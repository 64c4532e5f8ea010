"""Stage statistics of the last year: stage-to-stage conversion and each stage's P75 stay.

A stage's P75 duration is the nearest-rank 75th percentile of completed stays in it, among the
deals of the team being looked at (the whole organization for an admin). The team's figures are
aggregated in SQL over the stage facts (``sync.rollups``); the whole organization's come from the
stage entry months (``scoring.team.stage_windows``). Both dialects answer alike; where PostgreSQL
has a faster way (``percentile_disc``), it is taken.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, cast, func, literal, null, select
from sqlalchemy.orm import Session

from scoring.deals_as_of import midnight
from scoring.team import deal_totals
from scoring.team.stage_windows import entry_conditions, nearest_rank_p75, organization_stage_tallies
from scoring.team.views import HISTORY_DAYS, Table, live_opportunities, ratio
from sync.sql_time import days_between
from sync.stages import StageNames, stage_names
from sync.store import Opportunity
from sync.store.rollups import OpportunityStageFact

CONVERSION_COLUMNS = [("stage", "Stage"), ("entered", "Entered"), ("advanced", "Moved on"), ("lost", "Lost"),
                      ("still_in", "Still in stage"), ("conversion", "Conversion"),
                      ("avg_days", "Average days in stage")]
CONVERSION_NOTE = "Deals that entered each stage in the last 365 days."


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
    one_pass = with_p75 and not by_owner and postgresql
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
        statement = statement.union_all(_p75_by_stage(postgresql, durations))
    table = Table("conversion", list(CONVERSION_COLUMNS), note=CONVERSION_NOTE)
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
        table.rows.append(_conversion_row(stage, row_owner, by_owner, int(entered), int(advanced or 0),
                                          int(lost_count or 0), float(days) if days is not None else None))
    _in_funnel_order(session, organization_id, table)
    return table, p75


def _organization_stage_stats(session: Session, organization_id: int, since: datetime, until: datetime,
                              lost_stages: set[str], closing_stages: set[str], by_owner: bool,
                              with_p75: bool) -> tuple[Table, dict[str, float]]:
    """stage_stats for the whole organization, from the stage entry months: the same rows and P75s."""
    table = Table("conversion", list(CONVERSION_COLUMNS), note=CONVERSION_NOTE)
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
        table.rows.append(_conversion_row(stage, owner, by_owner, tally.entered, tally.ended - tally.lost, tally.lost,
                                          tally.days / tally.ended if tally.ended else None))
    _in_funnel_order(session, organization_id, table)
    return table, p75


def _conversion_row(stage: str, owner: str | None, by_owner: bool, entered: int, advanced: int, lost: int,
                    avg_days: float | None) -> dict[str, Any]:
    """One row of the conversion table (with its owner when the table is per owner)."""
    return {"stage": stage, **({"owner": owner} if by_owner else {}), "entered": entered, "advanced": advanced,
            "lost": lost, "still_in": entered - advanced - lost, "conversion": ratio(advanced, entered),
            "avg_days": avg_days}


def _in_funnel_order(session: Session, organization_id: int, table: Table) -> None:
    """Label the conversion table's stages as the CRM does and sort its rows in funnel order."""
    names = stage_names(session, organization_id)
    names.relabel(table.rows)
    order = stage_order(table.rows, names)
    table.rows.sort(key=lambda r: (order.get(r["stage"], len(order)), r["stage"], r.get("owner") or ""))


def _p75_by_stage(postgresql: bool, durations):
    """Per stage, the nearest-rank P75 of the durations (the smallest with rank × 4 ≥ count × 3), as p-rows."""
    def p_row(stage, value):
        return select(literal("p"), stage, cast(null(), String), literal(0), literal(0), literal(0), value)

    if postgresql:
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
