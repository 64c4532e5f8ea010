"""`make demo` and `make smoke`: the whole path on the embedded defaults, for the three sandbox CRMs.

demo:  start everything, connect the sandbox Salesforce org and HubSpot portal (one company) and the
       Dynamics 365 environment (another company, see demo.stack.OWN_COMPANY), sync, score, write
       back, print the URLs, keep running.
smoke: the same headless, then print one JSON line of figures and exit (non-zero on a mismatch).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone

from sqlalchemy import func, select

from demo import dynamics, measure
from demo.narrate import narrator
from demo.stack import Stack
from sync.job_chain import SYNC
from sync.store import SYNCED_MODELS, Connection, SyncRun

PROVIDERS = ("salesforce", "hubspot", "dynamics")
# Sandbox object → the common object it lands in, per CRM (what can be counted on both sides).
SALESFORCE_OBJECTS = {
    "User": "user", "UserRole": "user_role", "Account": "account", "Contact": "contact", "Lead": "lead", "Opportunity": "opportunity",
    "OpportunityHistory": "opportunity_stage_change", "Task": "activity", "Event": "activity",
    "Campaign": "campaign", "CampaignMember": "campaign_member", "ForecastingQuota": "quota",
}
HUBSPOT_OBJECTS = {"contacts": "lead", "companies": "account", "deals": "opportunity", "calls": "activity",
                   "emails": "activity", "meetings": "activity", "notes": "activity", "tasks": "activity"}


def existing_connection(stack: Stack, provider: str) -> Connection | None:
    with stack.runtime.sessions() as db:
        return db.scalar(select(Connection).where(Connection.provider == provider,
                                                  Connection.status.not_in(("needs_reauth", "disconnected"))))


def connect(stack: Stack, provider: str) -> tuple[int, bool]:
    """Install the connection once; later runs reuse it and sync incrementally."""
    existing = existing_connection(stack, provider)
    if existing is not None:
        stack.wire(provider, existing.id)
        SYNC.enqueue(stack.runtime.queues, existing.id, "incremental")
        return existing.id, False
    return stack.install(provider), True


def synced_counts(stack: Stack, connection_id: int) -> dict[str, int]:
    """Live records stored per common object."""
    with stack.runtime.sessions() as db:
        return {name: db.scalar(select(func.count()).select_from(model).where(
                    model.connection_id == connection_id, model.deleted_at.is_(None)))
                for name, model in SYNCED_MODELS.items()}


def sandbox_counts(stack: Stack, provider: str) -> dict[str, int]:
    """Live records in the sandbox per common object it can be compared on."""
    if provider == "dynamics":
        return dynamics.sandbox_counts(stack.dynamics)
    info = stack.sandbox_of(provider).info()
    table = SALESFORCE_OBJECTS if provider == "salesforce" else HUBSPOT_OBJECTS
    counts: dict[str, int] = {}
    for name, n in info["counts"].items():
        if name in table:
            counts[table[name]] = counts.get(table[name], 0) + n
    if provider == "hubspot":
        counts["user"] = info["owners"]
    return counts


def figures(stack: Stack, provider: str, connection_id: int, started: datetime, baseline: dict) -> dict:
    """One provider's smoke figures, from the store's run log and the worker's counters."""
    with stack.runtime.sessions() as db:
        runs = db.scalars(select(SyncRun).where(SyncRun.connection_id == connection_id,
                                                SyncRun.started_at >= started,
                                                SyncRun.kind != "targeted")).all()
    synced = synced_counts(stack, connection_id)
    remote = sandbox_counts(stack, provider)
    seen = sum(r.seen for r in runs)
    seconds = round(sum(r.seconds or 0 for r in runs), 2)
    calls = sum(r.api_calls for r in runs)
    written = measure.writeback_counters(stack, connection_id)
    return {
        "synced": synced, "sandbox": remote,
        "matches_sandbox": all(synced[k] == n for k, n in remote.items()),
        "api_calls": calls, "seconds": seconds, "records_seen": seen,
        "records_per_second": round(seen / seconds, 1) if seconds else None,
        "api_calls_per_1000_records": round(1000 * calls / seen, 2) if seen else None,
        "scored": measure.scored(stack, connection_id),
        "written_back": written["written"] - baseline.get("written", 0),
        "writeback_calls": written["calls"] - baseline.get("calls", 0),
    }


class Phases:
    """Wall seconds of each phase of the run, told on stderr as it ends and kept for the smoke JSON."""

    def __init__(self, out=sys.stderr):
        self.seconds: dict[str, float] = {}
        self.out = out
        self.started = time.monotonic()

    @contextmanager
    def __call__(self, name: str):
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.monotonic() - started, 1)
            print(f"smoke.phase {name} {self.seconds[name]} s (at {time.monotonic() - self.started:.0f} s)",
                  file=self.out, flush=True)

    def total(self) -> float:
        return round(time.monotonic() - self.started, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo")
    parser.add_argument("--smoke", action="store_true", help="run headless, print figures as JSON, exit")
    parser.add_argument("--seed", choices=("full", "small"), default="full",
                        help="the sandboxes' data: full, or every 20th lead and deal for a quick run")
    args = parser.parse_args(argv)
    phase = Phases()
    with phase("start"):
        stack = Stack(seed=args.seed).start()
    try:
        started = datetime.now(timezone.utc).replace(tzinfo=None)
        baselines = {}
        for provider in PROVIDERS:
            existing = existing_connection(stack, provider)
            baselines[provider] = measure.writeback_counters(stack, existing.id) if existing else {}
        with phase("install"):
            stack.sign_in()
            stack.sign_in("dynamics")  # the other company's admin, in their own browser
            connections = {provider: connect(stack, provider) for provider in PROVIDERS}
        if not args.smoke:
            print(f"Pipewise console:   {stack.web_url}/", flush=True)
            for provider, (connection_id, _) in connections.items():
                print(f"{provider:<19} {stack.web_url}/connections/{connection_id}/progress", flush=True)
        # The steps to first scores, as they go (on stderr for the smoke run, whose stdout is one JSON line).
        tell = narrator(stack.runtime, {p: cid for p, (cid, _) in connections.items()},
                        sys.stderr if args.smoke else sys.stdout)
        with phase("first_sync_score_writeback"):
            stack.wait_idle(every_second=tell)
            tell()
        with phase("figures"):
            result = {provider: figures(stack, provider, cid, started, baselines[provider])
                      for provider, (cid, _) in connections.items()}
        sf_id = connections["salesforce"][0]
        with phase("panels"):
            result["salesforce"]["panel"] = measure.panel_check(stack, sf_id)
            result["hubspot"]["card"] = measure.card_check(stack, connections["hubspot"][0])
            result["dynamics"]["panel"] = dynamics.panel_check(stack, connections["dynamics"][0])
            result["dynamics"]["writeback_check"] = dynamics.writeback_check(
                stack, connections["dynamics"][0], started, result["dynamics"]["writeback_calls"])
        with phase("models"):
            for provider, (cid, _) in connections.items():
                result[provider]["models"] = measure.models(stack, cid)
        with phase("forecast_backtest"):
            backtests = measure.forecast_backtests(stack, [cid for cid, _ in connections.values()])
            for provider, (cid, _) in connections.items():
                result[provider]["forecast_backtest"] = backtests[cid]
        if args.smoke:
            with phase("change_to_score"):
                (result["salesforce"]["change_to_score_seconds"],
                 result["salesforce"]["change_to_score_breakdown"]) = measure.change_to_score(stack, sf_id)
            # Issue-level keys stay at the top for Salesforce; each provider's figures sit under its name.
            line = {k: v for k, v in result["salesforce"].items() if k != "sandbox"}
            line.update(salesforce=result["salesforce"], hubspot=result["hubspot"], dynamics=result["dynamics"])
            line["phase_seconds"] = {**phase.seconds, "total_before_stop": phase.total()}
            print(json.dumps(line), flush=True)
            ok = (all(r["matches_sandbox"] for r in result.values()) and line["panel"] == "ok"
                  and result["dynamics"]["panel"] == "ok" and result["dynamics"]["writeback_check"]["ok"])
            return 0 if ok else 1
        print(measure.where_to_look(stack, connections), flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
