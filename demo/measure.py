"""Figures of the smoke run beyond the sync: scores, writeback, the panel, change-to-score latency."""
from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urljoin

import requests
from sqlalchemy import func, select

from sync.store import Connection, ModelVersion, Opportunity, Score, User, WebhookEvent, utcnow
from sync.webhook_trace import breakdown

TARGETS = ("lead", "opportunity")


def scored(stack, connection_id: int) -> dict[str, int]:
    """Scores stored per object type."""
    with stack.runtime.sessions() as db:
        rows = db.execute(select(Score.object_type, func.count()).where(Score.connection_id == connection_id)
                          .group_by(Score.object_type)).all()
    return {"lead": 0, "opportunity": 0, **{k: n for k, n in rows}}


def models(stack, connection_id: int) -> dict[str, dict]:
    """Per target, what scores the connection's records: kind, held-out figures, exclusions, band shares.

    The figures are the active scorer's own on its matured, time-aware holdout (the fallback's when
    the trained model did not earn the right to score; the trained candidate's are beside them).
    """
    out = {}
    with stack.runtime.sessions() as db:
        organization_id = db.get(Connection, connection_id).organization_id
        for target in TARGETS:
            version = db.scalar(select(ModelVersion).where(
                ModelVersion.organization_id == organization_id, ModelVersion.target == target,
                ModelVersion.is_active.is_(True)).order_by(ModelVersion.id.desc()).limit(1))
            bands = dict(db.execute(select(Score.band, func.count()).where(
                Score.connection_id == connection_id, Score.object_type == target).group_by(Score.band)).all())
            total = sum(bands.values())
            shares = {band: round(bands.get(band, 0) / total, 4) if total else 0.0 for band in "ABCD"}
            if version is None:
                out[target] = {"kind": None, "band_share": shares}
                continue
            card = version.card or {}
            fallback = card.get("scorer") == "fallback"
            metrics = (card.get("fallback_metrics") if fallback else card.get("metrics")) or {}
            training = card.get("training") or {}
            out[target] = {
                "kind": version.kind, "auc": metrics.get("auc"), "brier_skill": metrics.get("brier_skill"),
                "holdout_n": training.get("holdout_n"), "holdout_positives": training.get("holdout_positives"),
                "excluded": [e["feature"] for e in card.get("excluded") or []], "band_share": shares,
                "verdict": card.get("verdict"),
                **({"candidate": {"kind": card.get("candidate_kind"), "auc": (card.get("metrics") or {}).get("auc"),
                                  "brier_skill": (card.get("metrics") or {}).get("brier_skill")}} if fallback else {}),
            }
    return out


def forecast_backtests(stack, connection_ids: list[int]) -> dict[int, dict]:
    """Each connection's organization's backtest, run once per organization (two CRMs of one company share it)."""
    with stack.runtime.sessions() as db:
        organizations = {cid: db.get(Connection, cid).organization_id for cid in connection_ids}
    done: dict[int, dict] = {}
    for cid, organization_id in organizations.items():
        if organization_id not in done:
            done[organization_id] = forecast_backtest(stack, cid)
    return {cid: done[organization_id] for cid, organization_id in organizations.items()}


def forecast_backtest(stack, connection_id: int, months: int = 6) -> dict:
    """The monthly backtest over the last complete months of the data, with the held-out procedure."""
    from datetime import date

    from scoring.deals_as_of import add_months
    from scoring.forecast.backtest import backtest
    from scoring.forecast.snapshots import data_as_of

    with stack.runtime.sessions() as db:
        organization_id = db.get(Connection, connection_id).organization_id
        today = data_as_of(db, organization_id)
        last = add_months(date(today.year, today.month, 1), -1)  # the last month that has ended
        report = backtest(db, organization_id, add_months(last, 1 - months), last, simulations=1000, today=today)
    data = report.to_dict()
    return {"months": [o["period"] for o in data["origins"]], "wape": data["wape"],
            "p10_p90_coverage": data["p10_p90_coverage"], "winner": data["winner"], "verdict": data["verdict"]}


def writeback_counters(stack, connection_id: int) -> dict[str, int]:
    """The worker's running totals of records written and calls made for a connection."""
    raw = stack.runtime.redis.hgetall(f"pipewise:writeback:{connection_id}")
    return {"written": int(raw.get(b"written", 0)), "calls": int(raw.get(b"calls", 0)),
            "rejected": int(raw.get(b"rejected", 0))}


def panel_check(stack, connection_id: int) -> str:
    """Open one scored deal's Canvas panel as Salesforce does; "ok" when it shows the CRM field's score."""
    with stack.runtime.sessions() as db:
        score = db.scalar(select(Score).where(Score.connection_id == connection_id,
                                              Score.object_type == "opportunity").limit(1))
    if score is None:
        return "no scored deal"
    crm = stack.control.record("Opportunity", score.remote_id)
    signed = stack.control.signed_request("Opportunity", score.remote_id)["signed_request"]
    answer = requests.post(urljoin(stack.web_url, "/embed/salesforce/canvas"),
                           data={"signed_request": signed}, timeout=30)
    if answer.status_code != 200:
        return f"panel answered {answer.status_code}"
    if str(crm.get("Pipewise_Score__c")).split(".")[0] != str(score.score):
        return f"CRM field {crm.get('Pipewise_Score__c')} differs from the stored score {score.score}"
    if f">{score.score}<" not in answer.text:
        return "the panel does not show the score"
    return "ok"


def change_to_score(stack, connection_id: int, changes: int = 50, timeout: float = 60.0) -> tuple[dict, dict]:
    """Log a meeting on open deals in the CRM and time until each deal's new score is on its record.

    Returns the figures and their breakdown by stage, from the traces of the events received meanwhile.
    """
    since = utcnow()
    figures = _change_to_score(stack, connection_id, changes, timeout)
    return figures, trace_breakdown(stack, connection_id, since)


def trace_breakdown(stack, connection_id: int, since, wait: float = 30.0) -> dict:
    """p50/p95 of each stage of the events received since then, once they are all processed."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with stack.runtime.sessions() as db:
            waiting = db.scalar(select(func.count()).select_from(WebhookEvent).where(
                WebhookEvent.connection_id == connection_id, WebhookEvent.received_at >= since,
                WebhookEvent.processed_at.is_(None)))
        if not waiting:
            break
        time.sleep(0.2)
    with stack.runtime.sessions() as db:
        return breakdown(db, connection_id, since)


def _change_to_score(stack, connection_id: int, changes: int, timeout: float) -> dict:
    with stack.runtime.sessions() as db:
        deals = db.scalars(select(Opportunity.remote_id).where(
            Opportunity.connection_id == connection_id, Opportunity.is_closed.is_(False),
            Opportunity.deleted_at.is_(None)).order_by(Opportunity.remote_id).limit(changes)).all()
    clock = stack.control.info()["clock"]
    since = utcnow()

    def one(deal: str) -> tuple[float, bool] | None:
        before = stack.control.record("Opportunity", deal).get("Pipewise_Scored_At__c")
        started = time.monotonic()
        meeting = stack.control.create("Event", {"Subject": "Demo meeting", "WhatId": deal, "ActivityDateTime": clock,
                                                 "DurationInMinutes": 30, "EventSubtype": "Event"})
        while time.monotonic() - started < timeout:
            record = stack.control.record("Opportunity", deal)
            if record.get("Pipewise_Scored_At__c") != before:
                return time.monotonic() - started, True
            if _rescored_unchanged(stack, connection_id, since, meeting, deal, record):
                return time.monotonic() - started, False
            time.sleep(0.1)
        return None

    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(one, deals))
    times = sorted(t for t, _ in (r for r in results if r is not None))
    unchanged = sum(1 for r in results if r is not None and not r[1])
    if not times:
        return {"p50": None, "p95": None, "changes": len(deals), "timed_out": len(deals), "unchanged": 0}
    return {"p50": round(statistics.median(times), 2),
            "p95": round(times[max(0, int(round(0.95 * len(times))) - 1)], 2),
            "changes": len(deals), "timed_out": len(deals) - len(times), "unchanged": unchanged}


def _rescored_unchanged(stack, connection_id: int, since, meeting: str, deal: str, record: dict) -> bool:
    """Whether the meeting's event was rescored and the record already shows the deal's stored score.

    A meeting that leaves the score, band, reasons and next step as they were writes nothing to the
    CRM (the scored-at time travels only with a real change): its change reached the record when its
    rescoring finished. A score still waiting for its writeback does not count.
    """
    with stack.runtime.sessions() as db:
        # Only the ids column: the poll runs beside the workers it times, on the same cores.
        named = db.scalars(select(WebhookEvent.remote_ids).where(
            WebhookEvent.connection_id == connection_id, WebhookEvent.received_at >= since,
            WebhookEvent.processed_at.is_not(None), WebhookEvent.scoring_finished_at.is_not(None))).all()
        if not any(meeting in (remote_ids or []) for remote_ids in named):
            return False
        stored = db.scalar(select(Score.score).where(Score.connection_id == connection_id,
                                                     Score.object_type == "opportunity", Score.remote_id == deal))
    return stored is not None and str(record.get("Pipewise_Score__c")).split(".")[0] == str(stored)


def card_check(stack, connection_id: int) -> str:
    """Open one scored deal's record page in the HubSpot sandbox; "ok" when its card shows the score."""
    with stack.runtime.sessions() as db:
        score = db.scalar(select(Score).where(Score.connection_id == connection_id,
                                              Score.object_type == "opportunity").limit(1))
    if score is None:
        return "no scored deal"
    page = _sandbox_get(stack.hubspot, f"/contacts/{stack.hubspot.portal_id}/record/0-3/{score.remote_id}")
    if page.status_code != 200:
        return f"record page answered {page.status_code}"
    return "ok" if f"{score.score}" in page.text and "Pipewise" in page.text else "the card does not show the score"


def _sandbox_get(sandbox, path: str) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    return session.get(urljoin(sandbox.base_url, path), verify=str(sandbox.ca_path), timeout=30)


def where_to_look(stack, connections: dict[str, tuple[int, bool]]) -> str:
    """Record pages of a few scored leads and deals in each sandbox, with the panel inside."""
    lines = ["", "Open these record pages (the Pipewise panel is embedded in the Salesforce and HubSpot ones):"]
    pages = {"salesforce": {"lead": "/lightning/r/Lead/{id}/view", "opportunity": "/lightning/r/Opportunity/{id}/view"},
             "hubspot": {"lead": "/contacts/{portal}/record/0-1/{id}", "opportunity": "/contacts/{portal}/record/0-3/{id}"},
             # Its form shows the record (and the Pipewise columns); the panel frame comes with the Dynamics panel.
             "dynamics": {"lead": "/main.aspx?etn=lead&id={id}&pagetype=entityrecord",
                          "opportunity": "/main.aspx?etn=opportunity&id={id}&pagetype=entityrecord"}}
    with stack.runtime.sessions() as db:
        for provider, (connection_id, _) in connections.items():
            sandbox = stack.sandbox_of(provider)
            for object_type, pattern in pages[provider].items():
                ids = db.scalars(select(Score.remote_id).where(Score.connection_id == connection_id,
                                                               Score.object_type == object_type)
                                 .order_by(Score.score.desc()).limit(2)).all()
                for remote_id in ids:
                    path = pattern.format(id=remote_id, portal=getattr(sandbox, "portal_id", ""))
                    lines.append(f"  {provider:<11} {object_type:<12} {sandbox.base_url}{path}")
        manager = db.scalar(select(User).where(User.connection_id == connections["salesforce"][0],
                                               User.role == "manager").order_by(User.remote_id).limit(1))
    if manager is not None:
        lines.append(f"  team panel  (as manager {manager.name}) {stack.sandbox.base_url}/lightning/r/User/"
                     f"{manager.remote_id}/view?as={quote(manager.username or manager.remote_id)}")
    lines.append(f"Sandbox home pages: {stack.sandbox.base_url}/  and  {stack.hubspot.base_url}/")
    lines.append("Dynamics 365 is another company's CRM: sign out and sign in to Pipewise with Dynamics 365 "
                 "to see its console.")
    return "\n".join(lines)
