"""Owners' and accounts' track records as deal features: how many deals they closed before the moment a
deal is described (all time, and in the last ``RECENT_DAYS``), and their win rate, smoothed toward the
organization's.

Counted in memory: the closed deals of each owner (or account) become running totals by close time
(``running_totals``, kept in the organization's deal context), and each deal looks up the totals just
before its as-of time (an as-of join), instead of pairing every deal with every other deal in SQL.
"""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

# Pseudo-deals pulling an owner's or account's win rate toward the organization's.
WIN_RATE_SMOOTHING = 5.0
# An owner's recent record: the deals they closed in this many days before the as-of time.
RECENT_DAYS = 180


def _microseconds(values: pd.Series) -> pd.Series:
    """Times as the store keeps them (to the microsecond), so comparisons match what SQL would find."""
    return pd.to_datetime(values).astype("datetime64[ns]").dt.floor("us")


def running_totals(deals: pd.DataFrame, key: str) -> pd.DataFrame:
    """Running totals of closed and won deals per owner (or account), by close time."""
    by = ["connection_id", key]
    past = deals.loc[deals["closed_at"].notna() & deals[key].notna(), by + ["closed_at", "won"]]
    past = past.assign(at=_microseconds(past["closed_at"]), closed=1, won=past["won"].astype(int))
    totals = past.groupby(by + ["at"], sort=True)[["closed", "won"]].sum().reset_index()
    totals[["closed", "won"]] = totals.groupby(by, sort=False)[["closed", "won"]].cumsum()
    return totals.sort_values("at", kind="stable")


def track_record(deals: pd.DataFrame, totals: pd.DataFrame, key: str, recent: bool = False) -> pd.DataFrame:
    """Per wanted deal: deals of the same owner (or account) closed before its as-of time (or in the recent
    window before it), and how many were won."""
    by = ["connection_id", key]
    wanted = deals.loc[(deals["wanted"] == 1) & deals[key].notna(), ["row_id", *by, "as_of"]]
    # The wanted deals may come from another read than the totals (a targeted scoring): one type for the keys.
    wanted = wanted.astype({"connection_id": "int64", key: object})
    totals = totals.astype({"connection_id": "int64", key: object})

    def before(times: pd.Series) -> pd.DataFrame:
        queries = wanted.assign(at=_microseconds(times)).sort_values("at", kind="stable")
        found = pd.merge_asof(queries[["row_id", *by, "at"]], totals, on="at", by=by, direction="backward",
                              allow_exact_matches=False)
        return found.set_index("row_id")[["closed", "won"]].fillna(0)

    counts = before(wanted["as_of"])
    if recent:
        counts = counts - before(pd.to_datetime(wanted["as_of"]) - timedelta(days=RECENT_DAYS)).reindex(counts.index)
    return counts.reset_index()


def add_win_rate(deals: pd.DataFrame, record: pd.DataFrame, key: str, prior: float, name: str) -> pd.DataFrame:
    """Add a smoothed win rate and closed-deal count per deal (missing without an owner/account)."""
    merged = deals[["row_id"]].merge(record, on="row_id", how="left")
    closed = merged["closed"].fillna(0).astype(float).to_numpy()
    won = merged["won"].fillna(0).astype(float).to_numpy()
    rate = (won + WIN_RATE_SMOOTHING * prior) / (closed + WIN_RATE_SMOOTHING)
    known = deals[key].notna().to_numpy()
    deals[f"{name}_win_rate"] = np.where(known, rate, np.nan)
    deals[f"{name}_closed_deals"] = np.where(known, closed, np.nan)
    return deals
