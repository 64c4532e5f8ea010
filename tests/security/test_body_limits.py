"""Finding 4: no endpoint reads a body larger than what its sender can send, chunked or not.

The attack: a 512 MB unsigned POST to the HubSpot webhook made the web process grow by about 1 GB
before the 401 came. Before the fix MAX_CONTENT_LENGTH was unset and chunked bodies bypassed the
size check.
"""
from __future__ import annotations

import http.client
import threading

import pytest
from werkzeug.serving import make_server

from tests.test_admin_signin import build_app
from connectors import registry
from web.limits import DEFAULT_BYTES

MIB = 1024 * 1024
# A Canvas signed request is a few kilobytes; Salesforce's declaration allows 300 KiB.
CANVAS_BYTES = registry.get("salesforce").provider.embed_body_bytes
CASES = [("/webhooks/hubspot", MIB), ("/webhooks/salesforce/00D000000000001AAA/secret", 2 * MIB),
         ("/embed/salesforce/canvas", CANVAS_BYTES), ("/admin/erasure/find", DEFAULT_BYTES),
         ("/api/v1/scores", DEFAULT_BYTES)]


@pytest.fixture
def served(tmp_path, sqlite_url, redis_url):
    app = build_app(tmp_path, sqlite_url, redis_url, None)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()


@pytest.mark.parametrize("path, limit", CASES)
def test_a_declared_body_over_the_endpoints_limit_is_refused_unread(served, path, limit):
    connection = http.client.HTTPConnection("127.0.0.1", served, timeout=10)
    connection.putrequest("POST", path)
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(limit + 1))
    connection.endheaders()  # the body is never sent: the answer must not wait for it
    answer = connection.getresponse()
    assert answer.status == 413
    assert b"larger than Pipewise accepts" in answer.read()


@pytest.mark.parametrize("path, limit", CASES[:3])
def test_a_chunked_body_is_cut_off_at_the_limit(served, path, limit):
    """Chunked bodies carry no Content-Length; the server stops reading at the limit and answers 413."""
    connection = http.client.HTTPConnection("127.0.0.1", served, timeout=10)
    connection.putrequest("POST", path)
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    chunk = b"[" + b" " * (64 * 1024 - 1)
    sent = 0
    try:
        # Up to 64 MB would follow; the server must answer long before that.
        while sent < 64 * MIB:
            connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
            if sent > limit + 2 * MIB:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = connection.getresponse()
    assert answer.status == 413
    assert sent <= limit + 2 * MIB + len(chunk)


def test_a_body_just_under_the_limit_is_read(served):
    """The limit refuses only what no CRM sends: a HubSpot-sized body still gets its signature checked."""
    connection = http.client.HTTPConnection("127.0.0.1", served, timeout=10)
    body = b"[" + b" " * (MIB - 2) + b"]"
    connection.request("POST", "/webhooks/hubspot", body=body, headers={"Content-Type": "application/json"})
    assert connection.getresponse().status == 401  # read, then refused for want of a signature
