"""Quarterly revenue quotas as HubSpot goal targets (object goal_targets, 0-74), derived from the seeded deals.

Rule: for 2017 Q3 and Q4 (Q4 is the quarter the clock origin opens), each sales rep's target is 110% of the
revenue the rep won (closedwon deals, by closedate) in the previous quarter, rounded up to the next 1,000 and
at least 1,000. Each regional team gets a goal of the sum of its reps' targets. Goal properties:
hs_goal_name, hs_target_amount, hs_start_datetime, hs_end_datetime, hs_assignee_user_id (the owner's userId;
empty for team goals) and hs_assignee_team_id. Read them with GET /crm/v3/objects/goal_targets (read-only).
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from .clock import iso, parse_datetime
from .store import Store

QUARTERS = ((2017, 3), (2017, 4))
GROWTH = 1.1
ROUND_TO = 1000


def quarter_of(moment: datetime) -> tuple[int, int]:
    """(year, quarter) of a datetime."""
    return moment.year, (moment.month - 1) // 3 + 1


def quarter_bounds(year: int, quarter: int) -> tuple[datetime, datetime]:
    """First and last millisecond of a quarter."""
    start = datetime(year, 3 * quarter - 2, 1)
    following = datetime(year + 1, 1, 1) if quarter == 4 else datetime(year, 3 * quarter + 1, 1)
    return start, following - timedelta(milliseconds=1)


def _previous(year: int, quarter: int) -> tuple[int, int]:
    return (year, quarter - 1) if quarter > 1 else (year - 1, 4)


def goal_targets(rows: Any, store: Store) -> None:
    """Add the goal_targets records to the seed rows (reps from the owners table, deals from the rows)."""
    won: dict[tuple[int, int], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for deal in rows.records["deals"]:
        props = deal["props"]
        if props.get("dealstage") == "closedwon":
            won[quarter_of(parse_datetime(props["closedate"]))][props["hubspot_owner_id"]] += float(props["amount"])
    reps = store.fetchall("SELECT id, user_id, first_name, last_name, teams FROM owners WHERE role = 'rep' "
                          "ORDER BY id")
    for year, quarter in QUARTERS:
        start, end = quarter_bounds(year, quarter)
        created = start - timedelta(days=14)  # goals are set a little before their quarter opens
        team_totals: dict[tuple[str, str], int] = defaultdict(int)
        for owner_id, user_id, first, last, teams in reps:
            earned = won[_previous(year, quarter)].get(str(owner_id), 0.0)
            target = max(ROUND_TO, math.ceil(earned * GROWTH / ROUND_TO) * ROUND_TO)
            team = json.loads(teams)[0] if json.loads(teams) else {"id": "", "name": ""}
            team_totals[(team["id"], team["name"])] += target
            rows.add("goal_targets", created, hs_goal_name=f"Revenue Q{quarter} {year} - {first} {last}",
                     hs_target_amount=target, hs_start_datetime=iso(start), hs_end_datetime=iso(end),
                     hs_assignee_user_id=user_id, hs_assignee_team_id=team["id"])
        for (team_id, name), total in sorted(team_totals.items()):
            rows.add("goal_targets", created, hs_goal_name=f"Revenue Q{quarter} {year} - {name} team",
                     hs_target_amount=total, hs_start_datetime=iso(start), hs_end_datetime=iso(end),
                     hs_assignee_team_id=team_id)


def quotas(store: Store) -> list[dict[str, Any]]:
    """The goal targets as plain quotas for /_sandbox/info: per owner (or team) and quarter."""
    owners = {str(user_id): (owner_id, email, f"{first} {last}") for owner_id, user_id, email, first, last in
              store.fetchall("SELECT id, user_id, email, first_name, last_name FROM owners")}
    teams = dict(store.fetchall("SELECT CAST(id AS TEXT), name FROM teams"))
    found = []
    for record in store.select("goal_targets", "archived = 0"):
        props = record["props"]
        start = parse_datetime(props["hs_start_datetime"])
        year, quarter = quarter_of(start)
        owner = owners.get(props.get("hs_assignee_user_id", ""))
        found.append({"goal_id": str(record["id"]), "quarter": f"{year}Q{quarter}",
                      "start": props["hs_start_datetime"], "end": props["hs_end_datetime"],
                      "amount": float(props["hs_target_amount"]),
                      "owner_id": str(owner[0]) if owner else None, "email": owner[1] if owner else None,
                      "name": owner[2] if owner else None, "user_id": props.get("hs_assignee_user_id"),
                      "team_id": props.get("hs_assignee_team_id"),
                      "team": teams.get(props.get("hs_assignee_team_id", ""))})
    return found
