"""Features of leads from the store, each labelled lead observed at one moment of its open life.

Which leads are learnt from: mature ones (scoring.records.maturity), created at least one conversion
window ago in a system that records conversions (a marketing tool that knows nothing of
conversions gives no negatives). The label is whether the lead converted within the window;
a lead closed without converting (its status says closed, disqualified, unqualified, junk, lost
or not converted) is a negative from its close. Younger open leads are only scored.

When is a labelled lead described: at a moment drawn uniformly between its creation and its
outcome (its conversion, its close, or the window's end), fixed per lead from a hash of its id.
That is how an open lead looks when it is scored: somewhere in its life, before anyone knows
the outcome. Activities and campaign responses count only before that moment. The lead's age
at that moment is exposure (scoring.records.features.EXPOSURE): the model uses it, reps never see it
as a reason.

Never used: the lead's ``status`` (for closed leads it states the outcome), ``rating`` (often set
after qualifying) and the converted_* fields.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Column, String, and_, case, func, or_, select
from sqlalchemy.orm import Session

from scoring.records.features import (ENGAGEMENT_KINDS, FeatureSet, ScoringScope, activity_engagement, as_of_table,
                                      as_times, described, drop_table, empty_feature_set, existing_at,
                                      merge_engagement, open_time, person_identities, raw_time, resolve_now,
                                      snapshot_moments, whole_days_between)
from scoring.records.maturity import outcome_window
from scoring.records.tabular import ONE_HOT_MAX_VALUES
from sync.store import Activity, Campaign, CampaignMember, Lead

CLOSED_STATUS = re.compile(r"closed|disqualif|unqualif|junk|lost|not converted|dead|rejected", re.IGNORECASE)
TITLE_LEVELS = (("executive",
                 re.compile(r"\b(chief|ceo|cfo|cto|coo|cmo|cio|president|founder|owner|partner)\b", re.I)),
                ("vice president", re.compile(r"\b(vp|svp|evp|vice president)\b", re.I)),
                ("director", re.compile(r"\b(director|head)\b", re.I)),
                ("manager", re.compile(r"\b(manager|lead|supervisor)\b", re.I)))

LEAD_KINDS = {"lead_source": "categorical", "industry": "categorical", "country": "categorical",
              "campaign": "categorical",
              "title_level": "categorical", "has_company": "boolean", "has_title": "boolean",
              "has_email": "boolean", "age_days": "numeric", "campaigns": "numeric",
              "campaign_responses": "numeric", "days_since_response": "numeric", **ENGAGEMENT_KINDS}

LEAKAGE_NOTES = {
    "status": "not a feature: for a closed lead it states the outcome (e.g. Closed - Converted)",
    "converted_at": "not a feature: filled only for converted leads",
    "activities": "only activities and campaign responses before the lead converted",
}


def title_level(title) -> str | None:
    """A job title's seniority in a few words (None when there is no title)."""
    if not isinstance(title, str) or not title.strip():
        return None
    for level, pattern in TITLE_LEVELS:
        if pattern.search(title):
            return level
    return "other"


def _leads(session: Session, organization_id: int) -> pd.DataFrame:
    """The organization's leads, noting whether their connection records conversions."""
    lead = Lead
    converting = (select(lead.connection_id).where(lead.organization_id == organization_id,
                                                   lead.is_converted.is_(True)).distinct())
    converting_ids = set(session.scalars(converting).all())
    columns = ["connection_id", "remote_id", "lead_source", "industry", "country", "company", "title", "email",
               "email_key", "status", "is_converted", "converted_at", "remote_created_at", "remote_modified_at"]
    times = ("converted_at", "remote_created_at", "remote_modified_at")
    stmt = select(*[raw_time(getattr(lead, c)) if c in times else getattr(lead, c) for c in columns]).where(
        lead.organization_id == organization_id, lead.deleted_at.is_(None))
    frame = pd.DataFrame(session.execute(stmt).all(), columns=columns)
    for column in times:
        frame[column] = as_times(frame[column])
    frame["records_conversions"] = frame["connection_id"].isin(converting_ids)
    return frame


def _campaigns(session: Session, organization_id: int, asof) -> pd.DataFrame:
    """Per lead: campaigns joined and responses given before its as-of time, and the last response."""
    m = CampaignMember
    joined = or_(m.remote_created_at.is_(None), m.remote_created_at < asof.c.as_of)
    responded = and_(m.has_responded.is_(True), m.first_responded_at.is_not(None),
                     m.first_responded_at < asof.c.as_of)
    stmt = (select(asof.c.row_id,
                   func.sum(case((joined, 1), else_=0)).label("campaigns"),
                   func.sum(case((responded, 1), else_=0)).label("campaign_responses"),
                   func.max(case((responded, m.first_responded_at), else_=None)).label("last_response_at"),
                   func.min(case((joined, Campaign.name), else_=None)).label("campaign"))
            .join(m, and_(m.connection_id == asof.c.connection_id, m.lead_remote_id == asof.c.remote_id))
            .outerjoin(Campaign, and_(Campaign.connection_id == m.connection_id,
                                      Campaign.remote_id == m.campaign_remote_id))
            .where(m.organization_id == organization_id, m.deleted_at.is_(None), asof.c.wanted == 1)
            .group_by(asof.c.row_id))
    return pd.DataFrame(session.execute(stmt).all(),
                        columns=["row_id", "campaigns", "campaign_responses", "last_response_at", "campaign"])


def _category_kind(values: pd.Series) -> str:
    """One-hot for a few values, rate-encoded for many."""
    return "categorical" if values.nunique() <= ONE_HOT_MAX_VALUES else "high_cardinality"


def lead_features(session: Session, organization_id: int, now: datetime | None = None,
                  scope: ScoringScope | None = None) -> FeatureSet:
    """Features, labels and as-of times of an organization's leads that existed at ``now`` (or those in scope)."""
    now = resolve_now(now)
    leads = existing_at(_leads(session, organization_id), now)
    if leads.empty:
        return empty_feature_set("lead", LEAD_KINDS, LEAKAGE_NOTES)
    created = pd.to_datetime(leads["remote_created_at"])
    modified = pd.to_datetime(leads["remote_modified_at"])
    converted_time = pd.to_datetime(leads["converted_at"]).fillna(modified)
    converted = leads["is_converted"].astype(bool) & converted_time.notna() & (converted_time <= now)
    closed = ~converted & leads["status"].fillna("").str.contains(CLOSED_STATUS)
    closed_time = modified.where(modified <= now, pd.Timestamp(now)).fillna(pd.Timestamp(now))
    window = outcome_window(((converted_time - created).dt.total_seconds() / 86400.0)[converted], "lead",
                            "converted")
    span = timedelta(days=window.days)
    # Mature: created a whole window ago, in a system that records conversions. The label is
    # whether the lead converted within the window.
    mature = created.notna() & (created <= now - span) & leads["records_conversions"]
    in_time = converted & (converted_time <= created + span)
    end = (created + span).where(~closed, closed_time.clip(upper=created + span)).where(~in_time, converted_time)
    # A lead converted the moment it was created was never open: no moment of it can be scored.
    learnable = mature & (end > created)
    label = pd.Series(np.nan, index=leads.index).where(~learnable, in_time.astype(float))
    snapshot = snapshot_moments(leads["connection_id"].astype(str) + ":" + leads["remote_id"].astype(str),
                                created, end)
    known_at = (created + span).where(~in_time, converted_time)
    is_open = ~converted & ~closed
    # Labelled leads are seen mid-life (for training); open ones as of now (for scoring). A lead
    # open for longer than the window is both, so it appears twice.
    open_days = open_time(created, end)
    learnt = leads[learnable].assign(as_of=snapshot[learnable], label=label[learnable], is_open=False,
                                     known_at=known_at[learnable], weight=open_days[learnable])
    scored = leads[is_open].assign(as_of=pd.Timestamp(now), label=np.nan, is_open=True, known_at=pd.NaT,
                                   weight=1.0)
    leads = pd.concat([learnt, scored], ignore_index=True) if scope is None else scored[scope.mask(scored)]
    if leads.empty:
        return empty_feature_set("lead", LEAD_KINDS, LEAKAGE_NOTES, window)
    leads = leads.reset_index(drop=True)
    leads["row_id"] = np.arange(len(leads))
    leads["wanted"] = 1

    asof = as_of_table(session, leads, "scoring_lead_asof", (Column("email_key", String(255)),))
    try:
        identities = person_identities(session, organization_id, asof)
        try:
            engagement = activity_engagement(session, organization_id, asof, Activity.who_remote_id, identities)
        finally:
            drop_table(session, identities)
        campaigns = _campaigns(session, organization_id, asof)
    finally:
        drop_table(session, asof)
    leads = merge_engagement(leads, engagement).merge(campaigns, on="row_id", how="left")
    counts = ["campaigns", "campaign_responses"]
    leads[counts] = leads[counts].fillna(0).astype(float)
    leads["days_since_response"] = whole_days_between(leads["last_response_at"], leads["as_of"])
    leads["age_days"] = whole_days_between(leads["remote_created_at"], leads["as_of"])
    leads["title_level"] = leads["title"].map(title_level)
    for column in ("company", "title", "email"):
        leads[f"has_{column}"] = leads[column].fillna("").astype(str).str.strip().ne("")

    kinds = dict(LEAD_KINDS)
    for column in ("lead_source", "industry", "country", "campaign"):
        kinds[column] = _category_kind(leads[column])
    return described("lead", leads, kinds, LEAKAGE_NOTES, window)
