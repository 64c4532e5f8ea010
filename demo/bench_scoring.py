"""`make bench-scoring`: training and batch scoring of one organization at scale, on SQLite and PostgreSQL.

Generates one organization (default 100,000 leads and 100,000 deals, with their stage histories,
activities and campaign memberships) whose outcomes follow engagement, source, stage progress and
close-date pushes, so the models train for real and are judged on a holdout that can fail them.
Then, on each store, times:

- training: both targets' model selection, calibration and holdout judgement (scoring.records.registry.train);
- scoring: every open lead and deal scored with the versions just trained, reasons, next steps and
  the stored scores (scoring.records.score.score_connection);
- end to end: the first full scoring of the organization with no version yet, as the scoring job
  runs it after an install (quotas, the CRM clock, training, scoring, storing).

``--profile DIR`` writes a cProfile file per phase and store. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from demo.bench import NOW, SYNCED, Writer, prepare, stamp, synced, users
from sync import planner_statistics
from sync.runtime.config import PROJECT_ROOT
from sync.store import utcnow

DAY_US = 86_400_000_000
HISTORY_DAYS = 730
STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation")
PRODUCTS = ("Core", "Plus", "Pro", "Enterprise")
DEAL_SOURCES = ("Web", "Event", "Referral", "Partner", "Outbound")
LEAD_SOURCES = ("paid_search", "organic_search", "referral", "social", "email")
SOURCE_LIFT = np.array([0.3, -0.3, 1.0, -0.3, -0.3])
INDUSTRIES = ("retail", "finance", "health", "technology", "manufacturing")
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU")
TITLES = ("VP Sales", "Office manager", "CEO", "Director of IT", "Analyst", "")
CHUNK = 20_000
CAMPAIGNS = 40


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _text(values_us: np.ndarray) -> list[str]:
    return stamp(np.asarray(values_us, dtype=np.int64).astype("datetime64[us]"))


def _past(rng, count: int) -> np.ndarray:
    """Creation times spread over the last HISTORY_DAYS days, in µs since the epoch."""
    now = NOW.astype(np.int64)
    return now - (rng.uniform(1, HISTORY_DAYS, count) * DAY_US).astype(np.int64)


def write_deals(writer: Writer, rng, first: int, count: int, reps: list[str], accounts: int, org: int, conn: int,
                now_text: str) -> None:
    """Deals whose outcome follows engagement, stage progress and pushes; their stage history and activities."""
    now = NOW.astype(np.int64)
    created = _past(rng, count)
    engaged = rng.random(count)
    reached = rng.integers(0, len(STAGES), count)
    pushes = rng.poisson(0.3 + 1.5 * (1 - engaged))
    due = created + (rng.uniform(10, 120, count) * DAY_US).astype(np.int64)
    closed = (due < now) & (rng.random(count) < 0.9)  # a tenth stay open past their time: stale deals
    end = np.where(closed, np.minimum(due, now - DAY_US), now)
    won = closed & (rng.random(count) < _sigmoid(4 * engaged - 2 - 0.5 * pushes + 0.4 * (reached - 1.5)))
    amount = np.round(np.exp(rng.normal(np.log(20000), 1.0, count)), -1)
    owner, account = rng.integers(0, len(reps), count), rng.integers(0, accounts, count)
    product, source = rng.integers(0, len(PRODUCTS), count), rng.integers(0, len(DEAL_SOURCES), count)
    ids = [f"006S{n:014d}" for n in range(first, first + count)]
    created_text, end_text = _text(created), _text(end)
    close_base = created + 30 * DAY_US
    changes, last_close = [], np.zeros(count, dtype=np.int64)
    for i in range(count):
        t, close = int(created[i]), int(close_base[i])
        for step in range(reached[i] + 1):
            changes.append((ids[i], STAGES[step], t, close, float(amount[i])))
            t = t + (int(end[i]) - t) // 2
            if step < pushes[i]:
                close += 21 * DAY_US
        last_close[i] = close
        if closed[i]:
            changes.append((ids[i], "Closed Won" if won[i] else "Closed Lost", int(end[i]), int(end[i]),
                            float(amount[i])))
    change_at = _text(np.array([c[2] for c in changes]))
    change_close = np.datetime_as_string(np.array([c[3] for c in changes]).astype("datetime64[us]")
                                         .astype("datetime64[D]"))
    writer.write("opportunity_stage_change",
                 SYNCED + ("opportunity_remote_id", "stage", "changed_at", "close_date", "amount"),
                 [synced(org, conn, f"17sS{first * 8 + k:014d}", at, at, now_text) + (c[0], c[1], at, cd, c[4])
                  for k, (c, at, cd) in enumerate(zip(changes, change_at, change_close))])
    close_date = np.datetime_as_string(np.where(closed, end, last_close).astype("datetime64[us]")
                                       .astype("datetime64[D]"))
    writer.write("opportunity", SYNCED + ("name", "account_remote_id", "owner_remote_id", "stage", "amount",
                                          "close_date", "is_closed", "is_won", "product", "lead_source"), [
        synced(org, conn, ids[i], created_text[i], end_text[i] if closed[i] else created_text[i], now_text) + (
            f"Deal {first + i}", f"001S{account[i]:014d}", reps[owner[i]],
            ("Closed Won" if won[i] else "Closed Lost") if closed[i] else STAGES[reached[i]], float(amount[i]),
            close_date[i], bool(closed[i]), bool(won[i]), PRODUCTS[product[i]], DEAL_SOURCES[source[i]])
        for i in range(count)])
    per_deal = rng.poisson(1 + 8 * engaged)
    deal = np.repeat(np.arange(count), per_deal)
    at = created[deal] + (rng.random(len(deal)) * (end - created)[deal]).astype(np.int64)
    kinds = rng.choice(["call", "email", "meeting"], len(deal))
    at_text = _text(at)
    writer.write("activity", SYNCED + ("kind", "owner_remote_id", "what_remote_id", "occurred_at"), [
        synced(org, conn, f"00TD{first * 16 + j:014d}", at_text[j], at_text[j], now_text) + (
            str(kinds[j]), reps[owner[i]], ids[i], at_text[j]) for j, i in enumerate(deal)])


def write_leads(writer: Writer, rng, first: int, count: int, reps: list[str], org: int, conn: int,
                now_text: str) -> None:
    """Leads converting with engagement and source; unconverted ones stay open or are closed; their activities."""
    now = NOW.astype(np.int64)
    created = _past(rng, count)
    engaged = rng.random(count)
    source = np.arange(first, first + count) % len(LEAD_SOURCES)
    converted_at = created + (rng.uniform(2, 60, count) * DAY_US).astype(np.int64)
    converted = (rng.random(count) < _sigmoid(4 * engaged - 3 + SOURCE_LIFT[source])) & (converted_at < now)
    closed_at = created + (rng.uniform(30, 90, count) * DAY_US).astype(np.int64)
    closed = ~converted & (closed_at < now) & (rng.random(count) < 0.4)
    until = np.where(converted, converted_at, np.where(closed, closed_at, now))
    status = np.where(converted, "Closed - Converted", np.where(
        closed, "Closed - Not Converted", rng.choice(["Open - Not Contacted", "Working - Contacted"], count)))
    company = rng.random(count) < 0.8
    title = rng.integers(0, len(TITLES), count)
    industry, country = rng.integers(0, len(INDUSTRIES), count), rng.integers(0, len(COUNTRIES), count)
    owner = rng.integers(0, len(reps), count)
    ids = [f"00QS{n:014d}" for n in range(first, first + count)]
    created_text, until_text = _text(created), _text(until)
    writer.write("lead", SYNCED + ("owner_remote_id", "lead_source", "industry", "country", "company", "title",
                                   "email", "email_key", "status", "is_converted", "converted_at"), [
        synced(org, conn, ids[i], created_text[i], until_text[i], now_text) + (
            reps[owner[i]], LEAD_SOURCES[source[i]], INDUSTRIES[industry[i]], COUNTRIES[country[i]],
            f"Company {first + i}" if company[i] else None, TITLES[title[i]], f"p{first + i}@example.test",
            f"p{first + i}@example.test", str(status[i]), bool(converted[i]),
            until_text[i] if converted[i] else None)
        for i in range(count)])
    per_lead = rng.poisson(0.5 + 6 * engaged)
    lead = np.repeat(np.arange(count), per_lead)
    at = created[lead] + (rng.random(len(lead)) * (until - created)[lead]).astype(np.int64)
    kinds = rng.choice(["call", "email", "web_visit", "form", "email_click"], len(lead))
    at_text = _text(at)
    writer.write("activity", SYNCED + ("kind", "owner_remote_id", "who_remote_id", "occurred_at"), [
        synced(org, conn, f"00TL{first * 16 + j:014d}", at_text[j], at_text[j], now_text) + (
            str(kinds[j]), reps[owner[i]], ids[i], at_text[j]) for j, i in enumerate(lead)])
    member = np.nonzero(rng.random(count) < 0.4)[0]
    campaign = rng.integers(0, CAMPAIGNS, len(member))
    responded_text = _text(created + DAY_US)
    writer.write("campaign_member", SYNCED + ("campaign_remote_id", "lead_remote_id", "has_responded",
                                              "first_responded_at"), [
        synced(org, conn, f"00vS{first + i:014d}", created_text[i], created_text[i], now_text) + (
            f"701S{campaign[k]:014d}", ids[i], bool(engaged[i] > 0.5), responded_text[i])
        for k, i in enumerate(member)])


def generate(engines, leads: int, deals: int, seed: int = 20240515) -> dict:
    """Fill both stores with one organization of leads and deals; returns its ids."""
    from sqlalchemy.orm import Session

    from sync.store import Connection, Organization

    rng = np.random.default_rng(seed)
    now_text = stamp(np.array([np.datetime64(utcnow().replace(microsecond=0), "us")]))[0]
    for engine in engines:  # the same ids in both stores: each starts empty
        with Session(engine) as session:
            organization = Organization(name="Scoring bench")
            session.add(organization)
            session.flush()
            connection = Connection(organization_id=organization.id, provider="salesforce",
                                    remote_org_id="00DS00000000000AAA", instance_url="https://bench.my.salesforce.com",
                                    token_ciphertext=b"bench", status="healthy")
            session.add(connection)
            session.commit()
            org, conn = organization.id, connection.id
    writer = Writer(engines)
    user_rows, reps, _, _ = users(org, conn, now_text)
    writer.write("crm_user", SYNCED + ("name", "role", "team", "manager_remote_id", "is_active"), user_rows)
    writer.write("campaign", SYNCED + ("name",), [synced(org, conn, f"701S{n:014d}", None, None, now_text)
                                                  + (f"Campaign {n}",) for n in range(CAMPAIGNS)])
    accounts = max(100, deals // 25)
    for first in range(0, deals, CHUNK):
        write_deals(writer, rng, first, min(CHUNK, deals - first), reps, accounts, org, conn, now_text)
        writer.commit()
    for first in range(0, leads, CHUNK):
        write_leads(writer, rng, first, min(CHUNK, leads - first), reps, org, conn, now_text)
        writer.commit()
    writer.close()
    return {"organization_id": org, "connection_id": conn}


@contextmanager
def phase(name: str, store: str, profile_dir: Path | None, times: dict):
    """Time a phase (and profile it into profile_dir/<store>-<name>.prof when asked).

    Besides the wall time, the CPU time of this process: on a machine shared with other work it
    moves far less than the wall time (PostgreSQL's own work runs in its server, outside it).
    """
    profiler = cProfile.Profile() if profile_dir is not None else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    try:
        yield
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile_dir / f"{store}-{name}.prof")
        times[name] = round(time.perf_counter() - started, 2)
        times[f"{name}_cpu"] = round(time.process_time() - cpu, 2)
        print(f"  {store:10s} {name:12s} {times[name]:8.2f} s  (cpu {times[f'{name}_cpu']:.2f} s)", flush=True)


def _forget_models(session, organization_id: int, connection_id: int) -> None:
    """Remove versions and scores so the next scoring is the organization's first."""
    from sync.store import ModelVersion, Score, ScoreHistory

    session.execute(delete(ModelVersion).where(ModelVersion.organization_id == organization_id))
    session.execute(delete(Score).where(Score.connection_id == connection_id))
    session.execute(delete(ScoreHistory).where(ScoreHistory.connection_id == connection_id))
    session.commit()


def time_store(url: str, ids: dict, now: datetime, store: str, profile_dir: Path | None) -> dict:
    """Training, scoring and end-to-end rescoring seconds on one store, with what was scored."""
    from scoring.jobs import crm_now
    from scoring.records.registry import TARGETS, active_version, train
    from scoring.records.score import score_connection
    from sync.store.db import make_engine, make_sessionmaker

    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    org, conn = ids["organization_id"], ids["connection_id"]
    times: dict = {}
    try:
        with sessions() as session:
            _forget_models(session, org, conn)
            with phase("train", store, profile_dir, times):
                for target in TARGETS:
                    train(session, org, target, now)
                    session.commit()
            versions = {t: active_version(session, org, t) for t in TARGETS}
            models = {t: {"kind": v.kind, "auc": (v.card.get("metrics") or {}).get("auc"),
                          "verdict": v.card.get("verdict"),
                          "labelled": (v.card.get("training") or {}).get("labelled")} for t, v in versions.items()}
        with sessions() as session:
            with phase("score", store, profile_dir, times):
                scored = score_connection(session, conn, now=now)
        with sessions() as session:
            _forget_models(session, org, conn)
        with sessions() as session:
            with phase("end_to_end", store, profile_dir, times):
                clock = crm_now(session, conn)
                score_connection(session, conn, now=min(clock, now))
    finally:
        engine.dispose()
    return {"train_seconds": times["train"], "score_seconds": times["score"],
            "end_to_end_seconds": times["end_to_end"],
            "cpu_seconds": {k: times[f"{k}_cpu"] for k in ("train", "score", "end_to_end")},
            "scored": {t: scored[t] for t in TARGETS}, "models": models}


def stored_scores(url: str, connection_id: int) -> dict:
    """Every stored score of the connection (for comparing two code versions on the same data)."""
    from sync.store import Score
    from sync.store.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as db:
            rows = db.execute(select(Score.object_type, Score.remote_id, Score.score, Score.band, Score.reasons,
                                     Score.next_step, Score.probability).where(Score.connection_id == connection_id)
                              .order_by(Score.object_type, Score.remote_id)).all()
    finally:
        engine.dispose()
    return {f"{r[0]}:{r[1]}": [r[2], r[3], r[4], r[5], r[6]] for r in rows}


def main(argv: list[str] | None = None) -> int:
    """Generate, time on each store, print the figures as one JSON line."""
    print(json.dumps(run(argv)))
    return 0


def run(argv: list[str] | None = None) -> dict:
    """Generate, time on each store; the ``{"scoring": ...}`` figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--profile", type=Path, help="write a cProfile file per phase and store into this folder")
    parser.add_argument("--dump", type=Path, help="write the stored scores of each store to <dump>-<store>.json")
    args = parser.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    import pgserver

    bench_dir = PROJECT_ROOT / "var" / "bench-scoring"
    shutil.rmtree(bench_dir, ignore_errors=True)
    bench_dir.mkdir(parents=True)
    pg_dir = Path(tempfile.mkdtemp(prefix="pipewise-bench-scoring-pg-"))
    server = pgserver.get_server(pg_dir, cleanup_mode="delete") if "postgresql" in stores else None
    now = NOW.astype(datetime)
    try:
        urls = {}
        if "sqlite" in stores:
            urls["sqlite"] = f"sqlite:///{bench_dir / 'bench.db'}"
        if server is not None:
            server.psql("CREATE DATABASE bench;")
            base, _, query = server.get_uri().partition("?")
            urls["postgresql"] = f"{base.rsplit('/', 1)[0]}/bench?{query}"
        engines = [prepare(url) for url in urls.values()]
        started = time.perf_counter()
        print(f"generating {args.leads:,} leads and {args.deals:,} deals into {', '.join(urls)}", flush=True)
        ids = generate(engines, args.leads, args.deals)
        for engine in engines:
            with Session(engine) as session:  # as the first sync the generator stands in for leaves it
                planner_statistics.refresh(session)
            engine.dispose()
        print(f"generated in {time.perf_counter() - started:.0f} s", flush=True)
        results = {}
        for store, url in urls.items():
            results[store] = time_store(url, ids, now, store, args.profile)
            if args.dump is not None:
                Path(f"{args.dump}-{store}.json").write_text(json.dumps(stored_scores(url, ids["connection_id"])))
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(pg_dir, ignore_errors=True)
    # The headline figures are the slower store's: what a customer on either would wait at most.
    headline = {key: max(r[key] for r in results.values())
                for key in ("train_seconds", "score_seconds", "end_to_end_seconds")}
    return {"scoring": {"leads": args.leads, "deals": args.deals, **headline, "stores": results,
                        "measured": "one process, both targets; train = model selection, calibration "
                                    "and holdout judgement; score = every open lead and deal with "
                                    "the trained versions, stored"}}


if __name__ == "__main__":
    sys.exit(main())
