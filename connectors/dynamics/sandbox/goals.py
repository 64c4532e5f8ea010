"""Quarterly revenue goals (goal, metric, team, transactioncurrency), derived from the seeded deals.

The rule is the other sandboxes' quota rule: for each quarter of 2017, a sales rep's goal is 110% of the revenue
the rep won (Won opportunities' actualvalue, by actualclosedate) in the previous quarter, rounded up to the next
1,000 and at least 1,000, on the "Revenue" metric (Amount, Money). Each manager has a goal of the sum of their
reps' (the reps' goals have it as parentgoalid), and the manager's team (a Dataverse team, one per manager) a team
goal of the same sum, which is no one's quota. Each rep also has a "Won deals" goal on a count metric for Q4
(targetinteger: the deals they won in Q3), which is no revenue quota either. Goals are created two weeks before
their quarter opens. Tables: reference/entities/goal.md, metric.md, team.md, transactioncurrency.md.
"""
from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

QUOTA_YEAR = 2017
GROWTH, ROUND_TO = 1.1, 1000
MONEY, INTEGER = 0, 2  # metric.amountdatatype


def _ref(table: str, record_id: str | None) -> dict | None:
    return {"id": record_id, "table": table} if record_id else None


def quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    """First and last day of a quarter."""
    start = date(year, 3 * quarter - 2, 1)
    following = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return start, following - timedelta(days=1)


def _quarter(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def _previous(year: int, quarter: int) -> tuple[int, int]:
    return (year, quarter - 1) if quarter > 1 else (year - 1, 4)


def seed_goals(rows: Any, unit: str) -> None:
    """Add the currency, metrics, teams and goals to the seed rows (users and opportunities already added)."""
    created = "2016-01-01T00:00:00Z"
    rows.add("transactioncurrency", "USD", created, currencyname="US Dollar", isocurrencycode="USD",
             currencysymbol="$")
    currency = rows.rows["transactioncurrency"][-1]["transactioncurrencyid"]
    revenue = rows.add("metric", "Revenue", created, name="Revenue", isamount=True, amountdatatype=MONEY)
    won_deals = rows.add("metric", "Won deals", created, name="Won deals", isamount=False, amountdatatype=INTEGER)
    won: dict[tuple[tuple[int, int], str], float] = defaultdict(float)
    count: dict[tuple[tuple[int, int], str], int] = defaultdict(int)
    for deal in rows.rows["opportunity"]:
        if deal.get("statecode") == 1 and deal.get("actualclosedate") and deal.get("ownerid"):
            key = (_quarter(date.fromisoformat(deal["actualclosedate"])), deal["ownerid"]["id"])
            won[key] += float(deal.get("actualvalue") or 0)
            count[key] += 1
    users = rows.rows["systemuser"]
    names = {u["systemuserid"]: u["fullname"] for u in users}
    reps = sorted((u for u in users if u.get("title") == "Sales Representative" and u.get("parentsystemuserid")),
                  key=lambda u: u["fullname"])
    managers = sorted({u["parentsystemuserid"]["id"] for u in reps}, key=lambda m: names[m])
    teams = {m: rows.add("team", f"team:{m}", created, name=f"{names[m]}'s team",
                         businessunitid=_ref("businessunit", unit)) for m in managers}

    def goal(key: str, title: str, owner: dict, quarter: int, metric: str, stamp: str, **values: Any) -> str:
        start, end = quarter_bounds(QUOTA_YEAR, quarter)
        return rows.add("goal", key, stamp, title=title, goalownerid=owner, goalstartdate=start.isoformat(),
                        goalenddate=end.isoformat(), fiscalperiod=quarter, fiscalyear=QUOTA_YEAR,
                        isfiscalperiodgoal=True, metricid=_ref("metric", metric), transactioncurrencyid=_ref(
                            "transactioncurrency", currency), ownerid=_ref("systemuser", values.pop("set_by")),
                        **values, **_metric_values(metric == revenue))

    for quarter in range(1, 5):
        start, _end = quarter_bounds(QUOTA_YEAR, quarter)
        stamp = f"{(start - timedelta(days=14)).isoformat()}T09:00:00Z"
        previous = _previous(QUOTA_YEAR, quarter)
        targets = {r["systemuserid"]: max(ROUND_TO, math.ceil(won[previous, r["systemuserid"]] * GROWTH / ROUND_TO)
                                          * ROUND_TO) for r in reps}
        label = f"Q{quarter} {QUOTA_YEAR}"
        for manager in managers:
            mine = [r["systemuserid"] for r in reps if r["parentsystemuserid"]["id"] == manager]
            total = sum(targets[r] for r in mine)
            parent = goal(f"{manager}:{quarter}", f"Revenue {label} - {names[manager]}", _ref("systemuser", manager),
                          quarter, revenue, stamp, set_by=manager, targetmoney=float(total))
            goal(f"team:{manager}:{quarter}", f"Revenue {label} - {names[manager]}'s team",
                 _ref("team", teams[manager]), quarter, revenue, stamp, set_by=manager, targetmoney=float(total))
            for rep in mine:
                goal(f"{rep}:{quarter}", f"Revenue {label} - {names[rep]}", _ref("systemuser", rep), quarter, revenue,
                     stamp, set_by=manager, targetmoney=float(targets[rep]), parentgoalid=_ref("goal", parent))
                if quarter == 4:
                    goal(f"{rep}:{quarter}:deals", f"Won deals {label} - {names[rep]}", _ref("systemuser", rep),
                         quarter, won_deals, stamp, set_by=manager, targetinteger=max(1, count[previous, rep]))


def _metric_values(money: bool) -> dict[str, Any]:
    """What the platform copies from the goal's metric."""
    return {"isamount": money, "amountdatatype": MONEY if money else INTEGER}


def quotas(store) -> list[dict[str, Any]]:
    """The people's revenue goals as plain quotas for the environment's info: owner, quarter, amount."""
    found = []
    for row in store.rows("goal"):
        owner = row.get("goalownerid") or {}
        if owner.get("table") != "systemuser" or not row.get("isamount") or row.get("amountdatatype") != MONEY \
                or row.get("statuscode") == 2:
            continue
        year, quarter = _quarter(date.fromisoformat(row["goalstartdate"]))
        found.append({"goal_id": row["goalid"], "owner_id": owner["id"], "quarter": f"{year}-Q{quarter}",
                      "amount": float(row["targetmoney"]), "title": row["title"]})
    return sorted(found, key=lambda q: (q["quarter"], q["owner_id"]))
