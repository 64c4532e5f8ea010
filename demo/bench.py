"""`make bench`: the team panel's server time on a synthetic organization, on SQLite and PostgreSQL.

Generates one organization (default 500,000 opportunities with their stage changes and activities,
plus users in a hierarchy, accounts, leads, campaigns, quotas and forecast snapshots) into a SQLite
file under var/bench/ and into a PostgreSQL server started from the pgserver wheel in a temporary
directory, builds the panel's rollups as migrations 0017, 0022 and 0023 backfill them (the generator writes past the
sync engine that keeps them), adds the indexes the views need, then times every view through the Flask test client
(a full request: token check, scope, SQL, template), as a first-line manager (10 reps) and as an
admin (the whole organization). Then the webhook intake under load (``demo.bench_intake``) and
training and batch scoring at 100,000 leads and deals (``demo.bench_scoring``), and change-to-score
against a running stack on PostgreSQL and a Redis server (``demo.bench_latency``). The last line
printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import text

from demo import bench_intake, bench_latency
from sync.runtime.config import PROJECT_ROOT, Config
from sync.store import utcnow

NOW = np.datetime64("2024-05-15T00:00:00", "us")
AS_OF, PERIOD = "2024-05-15", "2024-Q2"
START = np.datetime64("2020-01-01T00:00:00", "us")
STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation")
PRODUCTS = ("Core", "Plus", "Pro", "Enterprise", "Analytics", "Services")
SOURCES = ("Web", "Event", "Referral", "Partner", "Outbound")
KINDS = ("call", "email", "meeting", "task", "web_visit")
DIRECTORS, MANAGERS_PER_DIRECTOR, REPS_PER_MANAGER = 5, 8, 10
CHUNK = 25_000
VIEWS = ("pipeline", "forecast", "benchmarks", "winloss", "funnel", "coaching")
DAY_US = 86_400_000_000

# The indexes the views need on existing tables (declared beside their tables in sync/store/records.py).
VIEW_INDEXES = (
    ("ix_opportunity_org_owner_close", "opportunity", "organization_id, owner_remote_id, is_closed, close_date"),
    ("ix_opportunity_org_close", "opportunity", "organization_id, is_closed, close_date"),
    ("ix_opportunity_org_modified", "opportunity", "organization_id, remote_modified_at"),
    ("ix_stage_change_deal", "opportunity_stage_change",
     "connection_id, opportunity_remote_id, changed_at, stage, id) WHERE (deleted_at IS NULL"),
    ("ix_stage_change_org_changed", "opportunity_stage_change", "organization_id, changed_at"),
    ("ix_activity_deal", "activity", "connection_id, what_remote_id, occurred_at"),
    ("ix_activity_org_owner_occurred", "activity", "organization_id, owner_remote_id, occurred_at"),
    ("ix_lead_org_owner_created", "lead", "organization_id, owner_remote_id, remote_created_at"),
    ("ix_lead_org_created", "lead", "organization_id, remote_created_at"),
    ("ix_crm_user_org_manager", "crm_user", "organization_id, manager_remote_id"),
    ("ix_campaign_member_lead", "campaign_member", "connection_id, lead_remote_id"),
)
SYNCED = ("organization_id", "connection_id", "remote_id", "remote_data", "content_hash", "remote_deleted",
          "synced_at", "remote_created_at", "remote_modified_at")


def stamp(values: np.ndarray) -> list[str]:
    """datetime64 values as the text both stores read (SQLAlchemy's SQLite format, ISO for PostgreSQL)."""
    return [s.replace("T", " ") for s in np.datetime_as_string(values, unit="us")]


class Writer:
    """Bulk writes to both stores at once: executemany on SQLite, COPY on PostgreSQL."""

    def __init__(self, engines):
        self.connections = [(engine.dialect.name, engine.raw_connection()) for engine in engines]

    def write(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        for dialect, conn in self.connections:
            cursor = conn.cursor()
            if dialect == "sqlite":
                marks = ", ".join("?" for _ in columns)
                cursor.executemany(f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({marks})', rows)
            else:
                with cursor.copy(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
            cursor.close()

    def commit(self) -> None:
        for _, conn in self.connections:
            conn.commit()

    def close(self) -> None:
        for _, conn in self.connections:
            conn.close()


def synced(org: int, conn: int, remote_id: str, created: str | None, modified: str | None, now: str) -> tuple:
    return (org, conn, remote_id, "{}", "bench", False, now, created, modified)


def users(org: int, conn: int, now: str) -> tuple[list[tuple], list[str], str, str]:
    """Admin, directors, managers and reps; returns rows, rep ids, a first-line manager and the admin."""
    rows, reps, n = [], [], 0

    def add(role: str, manager: str | None, team: str) -> str:
        nonlocal n
        remote_id = f"005B{n:014d}"
        rows.append(synced(org, conn, remote_id, None, None, now) + (f"{role.title()} {n}", role, team, manager, True))
        n += 1
        return remote_id

    admin = add("admin", None, "Operations")
    first_manager = None
    for d in range(DIRECTORS):
        director = add("manager", None, f"Region {d}")
        for m in range(MANAGERS_PER_DIRECTOR):
            manager = add("manager", director, f"Region {d}")
            first_manager = first_manager or manager
            reps += [add("rep", manager, f"Region {d}") for _ in range(REPS_PER_MANAGER)]
    return rows, reps, first_manager, admin


def deals(rng: np.random.Generator, first: int, count: int, reps: list[str], accounts: int):
    """Column arrays of `count` opportunities and their stage entries' times (µs since epoch)."""
    span = (NOW - np.timedelta64(1, "D") - START).astype(np.int64)
    created = START.astype(np.int64) + (rng.random(count) * span).astype(np.int64)
    steps = rng.integers(1, 5, count)
    gaps = (rng.uniform(2, 45, (count, 4)) * DAY_US).astype(np.int64)
    entered = created[:, None] + np.concatenate([np.zeros((count, 1), np.int64), np.cumsum(gaps, 1)[:, :3]], 1)
    end = created + np.cumsum(gaps, 1)[np.arange(count), steps - 1]
    now = NOW.astype(np.int64)
    valid = (np.arange(4)[None, :] < steps[:, None]) & (entered < now)
    closed = (end < now) & (rng.random(count) < 0.85)
    won = closed & (steps == 4) & (rng.random(count) < 0.55)
    reached = valid.sum(1)
    return {"ids": np.arange(first, first + count), "owner": rng.integers(0, len(reps), count),
            "created": created, "end": end, "entered": entered, "valid": valid, "closed": closed, "won": won,
            "stage": reached - 1, "amount": np.round(np.exp(rng.uniform(np.log(500), np.log(150000), count))),
            "open_close": now + rng.integers(-15, 120, count) * DAY_US, "product": rng.integers(0, len(PRODUCTS), count),
            "account": rng.integers(0, accounts, count), "activities": rng.poisson(4, count)}


def write_deals(writer: Writer, rng, d: dict, reps: list[str], org: int, conn: int, now: str) -> None:
    """The opportunities of one chunk, their stage changes and their activities."""
    us = lambda a: a.astype("datetime64[us]")  # noqa: E731
    created, end = stamp(us(d["created"])), stamp(us(d["end"]))
    close = np.where(d["closed"], d["end"], d["open_close"]).astype("datetime64[us]").astype("datetime64[D]")
    close = np.datetime_as_string(close)
    opp_rows, change_rows = [], []
    for i, n in enumerate(d["ids"]):
        remote_id, closed, won = f"006B{n:014d}", bool(d["closed"][i]), bool(d["won"][i])
        stage = ("Closed Won" if won else "Closed Lost") if closed else STAGES[d["stage"][i]]
        opp_rows.append(synced(org, conn, remote_id, created[i], end[i] if closed else created[i], now) + (
            f"Deal {n}", f"001B{d['account'][i]:014d}", reps[d["owner"][i]], stage, float(d["amount"][i]),
            close[i], closed, won, PRODUCTS[d["product"][i]]))
    steps = np.nonzero(d["valid"])
    times = stamp(d["entered"][steps].astype("datetime64[us]"))
    for (i, k), at in zip(zip(*steps), times):
        n = d["ids"][i]
        change_rows.append(synced(org, conn, f"17sB{n:012d}{k:02d}", at, at, now) + (f"006B{n:014d}", STAGES[k], at))
    for i in np.nonzero(d["closed"])[0]:
        n = d["ids"][i]
        change_rows.append(synced(org, conn, f"17sB{n:012d}99", end[i], end[i], now) + (
            f"006B{n:014d}", "Closed Won" if d["won"][i] else "Closed Lost", end[i]))
    writer.write("opportunity", SYNCED + ("name", "account_remote_id", "owner_remote_id", "stage", "amount",
                                          "close_date", "is_closed", "is_won", "product"), opp_rows)
    writer.write("opportunity_stage_change", SYNCED + ("opportunity_remote_id", "stage", "changed_at"), change_rows)
    deal = np.repeat(np.arange(len(d["ids"])), d["activities"])
    upto = np.minimum(np.where(d["closed"], d["end"], NOW.astype(np.int64)), NOW.astype(np.int64) - 1)
    at = d["created"][deal] + (rng.random(len(deal)) * (upto - d["created"])[deal]).astype(np.int64)
    at_text, kinds = stamp(at.astype("datetime64[us]")), rng.integers(0, len(KINDS), len(deal))
    first = int(d["ids"][0]) * 8
    rows = [synced(org, conn, f"00TB{first + j:014d}", at_text[j], at_text[j], now) + (
        KINDS[kinds[j]], reps[d["owner"][i]], f"006B{d['ids'][i]:014d}", at_text[j]) for j, i in enumerate(deal)]
    writer.write("activity", SYNCED + ("kind", "owner_remote_id", "what_remote_id", "occurred_at"), rows)


def leads(writer: Writer, rng, count: int, opportunities: int, reps: list[str], org: int, conn: int, now: str) -> None:
    """Leads (a third converted into an existing deal of the same owner) and campaign memberships."""
    span = (NOW - np.timedelta64(1, "D") - START).astype(np.int64)
    created = START.astype(np.int64) + (rng.random(count) * span).astype(np.int64)
    converted = rng.random(count) < 0.3
    converted_at = created + (rng.uniform(0.5, 20, count) * DAY_US).astype(np.int64)
    converted &= converted_at < NOW.astype(np.int64)
    owner, source = rng.integers(0, len(reps), count), rng.integers(0, len(SOURCES), count)
    deal = rng.integers(0, opportunities, count)
    created_text, converted_text = stamp(created.astype("datetime64[us]")), stamp(converted_at.astype("datetime64[us]"))
    rows = [synced(org, conn, f"00QB{n:014d}", created_text[n], created_text[n], now) + (
        reps[owner[n]], SOURCES[source[n]], bool(converted[n]), converted_text[n] if converted[n] else None,
        f"006B{deal[n]:014d}" if converted[n] else None) for n in range(count)]
    writer.write("lead", SYNCED + ("owner_remote_id", "lead_source", "is_converted", "converted_at",
                                   "converted_opportunity_remote_id"), rows)
    members = rng.random(count) < 0.4
    campaign = rng.integers(0, 40, count)
    writer.write("campaign_member", SYNCED + ("campaign_remote_id", "lead_remote_id", "has_responded"), [
        synced(org, conn, f"00vB{n:014d}", None, None, now) + (f"701B{campaign[n]:014d}", f"00QB{n:014d}", False)
        for n in np.nonzero(members)[0]])


def generate(engines, opportunities: int, seed: int = 20240515) -> dict:
    """Fill both stores with one organization; returns what the timing needs."""
    rng = np.random.default_rng(seed)
    now = stamp(np.array([np.datetime64(utcnow().replace(microsecond=0), "us")]))[0]
    for engine in engines:
        with engine.begin() as db:
            org = db.execute(text("INSERT INTO organization (name, created_at) VALUES ('Bench', :now) RETURNING id"),
                             {"now": now}).scalar_one()
            conn = db.execute(text(
                "INSERT INTO connection (organization_id, provider, remote_org_id, instance_url, scopes, status, "
                "token_ciphertext, webhook_secret_hash, created_at, updated_at) VALUES (:org, 'salesforce', "
                "'00DB00000000000AAA', 'https://bench.my.salesforce.com', '', 'healthy', :token, 'bench', :now, :now) "
                "RETURNING id"), {"org": org, "now": now, "token": b"bench"}).scalar_one()
    writer = Writer(engines)
    user_rows, reps, manager, admin = users(org, conn, now)
    writer.write("crm_user", SYNCED + ("name", "role", "team", "manager_remote_id", "is_active"), user_rows)
    accounts = max(100, opportunities // 25)
    industries = ("retail", "finance", "health", "technology", "manufacturing", None)
    writer.write("account", SYNCED + ("name", "industry"), [
        synced(org, conn, f"001B{n:014d}", None, None, now) + (f"Account {n}", industries[n % 6])
        for n in range(accounts)])
    writer.write("campaign", SYNCED + ("name",), [synced(org, conn, f"701B{n:014d}", None, None, now) + (f"Campaign {n}",)
                                                  for n in range(40)])
    for first in range(0, opportunities, CHUNK):
        write_deals(writer, rng, deals(rng, first, min(CHUNK, opportunities - first), reps, accounts), reps,
                    org, conn, now)
        writer.commit()
        print(f"  {min(first + CHUNK, opportunities):,} opportunities written", flush=True)
    leads(writer, rng, max(1000, opportunities * 2 // 5), opportunities, reps, org, conn, now)
    amounts = [float(rng.integers(300, 900) * 1000) for _ in reps]
    writer.write("quota", SYNCED + ("owner_remote_id", "period", "period_start", "amount", "deal_amount"), [
        synced(org, conn, f"0J9B{n:014d}", None, None, now) + (rep, PERIOD, "2024-04-01", amount, amount)
        for n, (rep, amount) in enumerate(zip(reps, amounts))])
    snapshots = []
    for period, as_of in ((PERIOD, "2024-05-01"), ("2024-Q1", "2024-02-01"), ("2023-Q4", "2023-11-01")):
        for key, scope in [("org", "org")] + [(rep, "rep") for rep in reps]:
            p50 = float(rng.integers(200, 800) * 1000) * (len(reps) if scope == "org" else 1)
            snapshots.append((org, period, as_of, scope, key, key, "base", p50 * 1.02, p50 * 0.7, p50, p50 * 1.4,
                              "bench", now))
    writer.write("forecast_snapshot", ("organization_id", "period", "as_of", "scope", "scope_key", "scope_name",
                                       "scenario", "expected", "p10", "p50", "p90", "model_version", "created_at"),
                 snapshots)
    writer.commit()
    writer.close()
    return {"organization_id": org, "connection_id": conn, "manager": manager, "admin": admin}


def prepare(url: str):
    """Migrate an empty store; returns its engine (the views' indexes come after the load)."""
    from sync.store.db import make_engine
    from web.cli import upgrade_database

    upgrade_database(url)
    return make_engine(url)


def add_indexes(engine) -> None:
    """The views' indexes, then fresh planner statistics."""
    with engine.begin() as db:
        for name, table, columns in VIEW_INDEXES:
            db.execute(text(f'CREATE INDEX IF NOT EXISTS {name} ON "{table}" ({columns})'))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            db.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as db:
            db.execute(text("ANALYZE"))


def build_rollups(engines, organization_id: int) -> float:
    """The panel's rollups of the generated rows, as the migration's backfill builds them; returns seconds.

    The generator writes with COPY, past the sync engine that keeps the rollups as it writes.
    """
    from sqlalchemy.orm import Session

    from sync.rollups import rebuild_organization

    started = time.perf_counter()
    for engine in engines:
        with Session(engine) as session:
            rebuild_organization(session, organization_id)
            session.commit()
    return time.perf_counter() - started


def time_views(url: str, var_dir: Path, ids: dict, runs: int, viewer: str, role: str) -> dict:
    """p50 and p95 of each view's full request time through the Flask test client, in ms."""
    import web
    from embed.tokens import mint_manager_token
    from web.extensions import runtime

    app = web.create_app(Config(VAR_DIR=var_dir, DATABASE_URL=url, SECRET_KEY="bench-secret"))
    client = app.test_client()
    token = mint_manager_token(app.secret_key, ids["organization_id"], ids["connection_id"], viewer, role)
    out = {}
    for view in VIEWS:
        path = f"/embed/manager/{view}?pt={token}&period={PERIOD}&as_of={AS_OF}"
        client.get(path)  # warm the caches once, as a panel in use would have them
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"The {view} view answered {response.status_code}; the bench stops here.")
        times.sort()
        out[view] = {"p50_ms": round(statistics.median(times), 1),
                     "p95_ms": round(times[min(len(times) - 1, int(np.ceil(0.95 * len(times))) - 1)], 1)}
    with app.app_context():
        runtime().engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    """Generate, index, time, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=20, help="timed requests per view as the manager")
    parser.add_argument("--org-runs", type=int, default=5, help="timed requests per view as the admin")
    parser.add_argument("--scoring-leads", type=int, default=100_000,
                        help="leads (and as many deals) for the training and batch-scoring bench (0: not)")
    parser.add_argument("--intake-seconds", type=float, default=60, help="how long the intake is loaded (0: not)")
    parser.add_argument("--latency-changes", type=int, default=50,
                        help="CRM changes timed to their score on the record, on PostgreSQL and a Redis server (0: not)")
    args = parser.parse_args(argv)
    import pgserver

    bench_dir = PROJECT_ROOT / "var" / "bench"
    shutil.rmtree(bench_dir, ignore_errors=True)
    bench_dir.mkdir(parents=True)
    pg_dir = Path(tempfile.mkdtemp(prefix="pipewise-bench-pg-"))
    server = pgserver.get_server(pg_dir, cleanup_mode="delete")
    try:
        server.psql("CREATE DATABASE bench;")
        base, _, query = server.get_uri().partition("?")
        urls = {"sqlite": f"sqlite:///{bench_dir / 'bench.db'}",
                "postgresql": f"{base.rsplit('/', 1)[0]}/bench?{query}"}
        engines = [prepare(url) for url in urls.values()]
        started = time.perf_counter()
        print(f"generating {args.opportunities:,} opportunities into SQLite and PostgreSQL", flush=True)
        ids = generate(engines, args.opportunities)
        generated = time.perf_counter() - started
        rolled = build_rollups(engines, ids["organization_id"])
        for engine in engines:
            add_indexes(engine)
            engine.dispose()
        print(f"generated in {generated:.0f} s, rollups built in {rolled:.0f} s, indexed in "
              f"{time.perf_counter() - started - generated - rolled:.0f} s", flush=True)
        panels, whole = {}, {}
        for store, url in urls.items():
            for view, figures in time_views(url, bench_dir / store, ids, args.runs, ids["manager"], "manager").items():
                panels.setdefault(view, {})[store] = figures
                print(f"  manager {store:10s} {view:10s} p50 {figures['p50_ms']:8.1f} ms  p95 {figures['p95_ms']:8.1f} ms",
                      flush=True)
            for view, figures in time_views(url, bench_dir / store, ids, args.org_runs, ids["admin"], "admin").items():
                whole.setdefault(view, {})[store] = figures
                print(f"  admin   {store:10s} {view:10s} p50 {figures['p50_ms']:8.1f} ms  p95 {figures['p95_ms']:8.1f} ms",
                      flush=True)
    finally:
        server.cleanup()
        shutil.rmtree(pg_dir, ignore_errors=True)
    intake = bench_intake.main(["--seconds", str(args.intake_seconds)])["intake"] if args.intake_seconds else None
    from demo import bench_scoring  # it builds on this module's generator

    scoring = (bench_scoring.run(["--leads", str(args.scoring_leads), "--deals", str(args.scoring_leads)])["scoring"]
               if args.scoring_leads else None)
    latency = (bench_latency.run(["--store", "postgresql", "--changes", str(args.latency_changes)])
               if args.latency_changes else None)
    print(json.dumps({"panels": panels, "opportunities": args.opportunities, "intake": intake, "scoring": scoring,
                      "change_to_score_seconds": latency and latency["change_to_score_seconds"],
                      "change_to_score_breakdown": latency and latency["change_to_score_breakdown"],
                      "measured": f"Flask test client, full request; manager of {REPS_PER_MANAGER} reps, "
                                  f"{args.runs} runs per view after one warm-up",
                      "whole_organization": whole, "generation_seconds": round(generated),
                      "rollup_build_seconds": round(rolled)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
