"""Evidence for the leakage guard from the store's field history and modification times.

A deal's stage history (Salesforce OpportunityHistory, HubSpot property history) records its
amount at every stage change. When the amount at the closing change differs from the amount at
the last open one far more often for one outcome (won deals corrected to their closing value,
lost ones zeroed), the field is rewritten at the close. The deal features then must take the
amount from before the close; a deal whose history holds no amount before its close would fall
back to its current, rewritten value, so the field is excluded when too few deals have one.

Modification times tell which current values were saved after the outcome: a closed record last
modified at or after its close may carry values written then. Those columns are the ones the
guard compares against open records; the evidence here says how many records that concerns.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from scoring.records.features import raw_time
from sync.store import Lead, Opportunity, OpportunityStageChange

REWRITTEN_SHARE = 0.5    # one outcome's deals change the field at the close at least this often…
REWRITTEN_RATIO = 5.0    # …and this many times as often as the other outcome's
MIN_DEALS = 20
# Below this share of closed deals with a value recorded before the close, the feature would
# mostly read the rewritten value.
MIN_BEFORE_SHARE = 0.8


def _closing_changes(session: Session, organization_id: int, closed_stages: list[str]) -> pd.DataFrame:
    """Per closed deal: its amount at the last open change, at the closing change, and whether it was won."""
    h, o = OpportunityStageChange, Opportunity
    rows = pd.DataFrame(session.execute(
        # changed_at only orders the rows (in SQL): read as it is stored, not converted
        select(h.connection_id, h.opportunity_remote_id, h.stage, h.amount, raw_time(h.changed_at), o.is_won)
        .join(o, (o.connection_id == h.connection_id) & (o.remote_id == h.opportunity_remote_id))
        .where(h.organization_id == organization_id, h.deleted_at.is_(None), h.changed_at.is_not(None),
               o.is_closed.is_(True), o.deleted_at.is_(None))
        .order_by(h.connection_id, h.opportunity_remote_id, h.changed_at, h.id)).all(),
        columns=["connection_id", "deal", "stage", "amount", "changed_at", "won"])
    if rows.empty:
        return rows
    rows["closing"] = rows["stage"].isin(closed_stages)
    keys = ["connection_id", "deal"]
    before = rows[~rows["closing"] & rows["amount"].notna()].groupby(keys)["amount"].last().rename("before")
    at_close = rows[rows["closing"]].groupby(keys).agg(at_close=("amount", "first"), won=("won", "first"))
    return at_close.join(before, how="left").reset_index()


def deal_evidence(session: Session, organization_id: int, closed_stages: list[str],
                  names: tuple[str, str] = ("lost", "won")) -> tuple[dict[str, str], dict[str, str]]:
    """(column → reason to exclude, column → what was checked) from the deals' amount history."""
    deals = _closing_changes(session, organization_id, closed_stages)
    exclude, notes = {}, {}
    if len(deals) < MIN_DEALS:
        return exclude, notes
    has_both = deals["before"].notna() & deals["at_close"].notna()
    changed = has_both & ~np.isclose(deals["before"].fillna(0), deals["at_close"].fillna(0))
    shares = {}
    for cls in (0, 1):
        mine = has_both & (deals["won"].astype(bool) == bool(cls))
        shares[cls] = float(changed[mine].sum() / mine.sum()) if mine.sum() >= MIN_DEALS else np.nan
    before_share = float(deals["before"].notna().mean())
    for cls in (0, 1):
        other = 1 - cls
        if np.isnan(shares[cls]) or np.isnan(shares[other]):
            continue
        if shares[cls] >= REWRITTEN_SHARE and shares[cls] >= REWRITTEN_RATIO * max(shares[other], 0.01):
            found = (f"the field history shows the amount rewritten at the close on {shares[cls]:.0%} of "
                     f"{names[cls]} deals against {shares[other]:.0%} of {names[other]} ones")
            if before_share < MIN_BEFORE_SHARE:
                reason = (f"{found}, and only {before_share:.0%} of closed deals have an amount recorded before "
                          "their close: the value learnt from would be the one written after the outcome")
                exclude["amount"] = reason
                exclude["amount_vs_typical"] = reason
            else:
                notes["amount"] = (f"{found}; the model reads the amount recorded before the close "
                                   f"({before_share:.0%} of closed deals have one)")
            return exclude, notes
    notes["amount"] = ("the field history shows no rewrite of the amount at the close "
                       f"(changed on {shares[1]:.0%} of {names[1]} and {shares[0]:.0%} of {names[0]} deals "
                       "with an amount before and at the close); its values are still compared with open deals")
    return exclude, notes


def modified_after_outcome(session: Session, organization_id: int, target: str) -> str | None:
    """A sentence on how many closed records were last saved at or after their outcome."""
    if target == "lead":
        model, outcome = Lead, Lead.converted_at
        done = Lead.is_converted.is_(True)
    else:
        model, outcome = Opportunity, Opportunity.close_date
        done = Opportunity.is_closed.is_(True)
    rows = session.execute(select(model.remote_modified_at, outcome)
                           .where(model.organization_id == organization_id, model.deleted_at.is_(None), done,
                                  outcome.is_not(None), model.remote_modified_at.is_not(None))).all()
    if not rows:
        return None
    after = sum(1 for modified, at in rows if modified.date() >= (at.date() if hasattr(at, "date") else at))
    what = "converted leads" if target == "lead" else "closed deals"
    return (f"{after / len(rows):.0%} of {what} were last modified at or after their outcome, so their current "
            "values may have been written then: every column is compared with open records")
