"""API calls of a first Salesforce read: the REST path (queryAll, 2,000 a page) against Bulk API 2.0 query jobs.

Starts the Salesforce sandbox with a seed (``full`` by default, the seed ``make smoke`` uses), then reads the
largest objects Pipewise syncs both ways with the real client over HTTPS and counts the calls each makes
(``client.usage.calls``: describe, COUNT(), job creation, polls, result sets, job deletion included).
The last line printed is one JSON object. Run: ``.venv/bin/python -m demo.bench_bulk [--seed full]``.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from connectors.errors import BackfillNotOffered
from connectors.oauth import OAuthApp
from connectors.salesforce import streams
from connectors.salesforce.bulk import DEFAULT_THRESHOLD
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.provider import SalesforceProvider
from connectors.salesforce.sandbox.server import SandboxServer

LARGEST = (streams.Tasks, streams.Events, streams.Leads, streams.CampaignMembers, streams.Contacts,
           streams.Opportunities, streams.OpportunityHistories, streams.Accounts)


def _client(server: SandboxServer, threshold: int = DEFAULT_THRESHOLD) -> SalesforceClient:
    """A client holding an access token the sandbox issued to its admin (no refresh needed for a bench)."""
    box = server.sandbox
    access, _ = box.tokens.issue_access(box.admin_id, box.settings.client_id, "api refresh_token", 7200)
    token = {"access_token": access, "instance_url": server.base_url,
             "id": f"{server.base_url}/id/{box.org_id}/{box.admin_id}"}
    oauth = OAuthApp(SalesforceProvider, server.base_url, box.settings.client_id, "unused",
                     verify=str(server.ca_path))
    return SalesforceClient(token, oauth, verify=str(server.ca_path), bulk_threshold=threshold)


def measure(server: SandboxServer, threshold: int) -> dict:
    """Per object: records, REST calls, the backfill's calls (Bulk above the threshold); and the totals."""
    found = {}
    for stream in LARGEST:
        rest = _client(server)
        started = time.perf_counter()
        rest_records = sum(len(page) for page in rest.read_stream(stream, None))
        rest_seconds = time.perf_counter() - started
        bulk = _client(server, threshold)
        started = time.perf_counter()
        try:
            bulk_records, path = sum(len(page.records) for page in bulk.read_backfill(stream, None)), "bulk"
        except BackfillNotOffered:
            # What a first sync does then: the REST read, after the describe and COUNT() already spent.
            bulk_records, path = sum(len(page) for page in bulk.read_stream(stream, None)), "rest (below threshold)"
        bulk_seconds = time.perf_counter() - started
        if bulk_records != rest_records:
            raise SystemExit(f"{stream.remote_name}: Bulk read {bulk_records} records, REST {rest_records}")
        found[stream.remote_name] = {"records": rest_records, "rest_calls": rest.usage.calls,
                                     "backfill_calls": bulk.usage.calls, "backfill_path": path, "rest_seconds": round(rest_seconds, 2),
                                     "bulk_seconds": round(bulk_seconds, 2)}
        print(stream.remote_name, found[stream.remote_name], flush=True)
    totals = {key: sum(v[key] for v in found.values()) for key in ("records", "rest_calls", "backfill_calls")}
    return {"objects": found, "total": totals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", default="full", choices=("full", "small"))
    parser.add_argument("--threshold", type=int, default=DEFAULT_THRESHOLD, help="SALESFORCE_BULK_THRESHOLD")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = SandboxServer(Path(folder), seed=args.seed).start()
        try:
            print(json.dumps({"seed": args.seed, "threshold": args.threshold, **measure(server, args.threshold)}))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
