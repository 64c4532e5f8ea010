"""POST $batch: multipart/mixed requests, change sets that succeed or fail together, odata.continue-on-error.

Source: webapi/execute-batch-operations-using-web-api.md: at most 1,000 requests per batch and no nested
batches; change sets are atomic and may not hold GET; Content-ID values are referenced as $1, $2, ...; without
the preference the batch stops at the first failure and answers 400 with that error, with it the batch answers
200 and every failure is a part of the body. Each part runs through the same routes as a direct call.
"""
from __future__ import annotations

import json
import re
import uuid
from http import HTTPStatus
from typing import Any

from flask import Response, current_app, request

from .api import API_PREFIX, PAYLOAD, ApiError, preferences, sandbox

MAX_REQUESTS = 1000
BOUNDARY = re.compile(r'boundary="?([^";]+)"?')


class _Rollback(Exception):
    """Raised inside a change set's transaction to undo it."""


def _split(body: str, boundary: str) -> list[str]:
    parts = re.split(rf"(?:\r?\n)?--{re.escape(boundary)}(?:--)?[ \t]*\r?\n?", body)
    return [p for p in parts[1:] if p.strip()]


def _headers_and_rest(text: str) -> tuple[dict[str, str], str]:
    """Header lines up to the first blank line, and what follows it."""
    blank = re.match(r"\r?\n", text)
    if blank:
        return {}, text[blank.end():]
    split = re.search(r"\r?\n\r?\n", text)
    head, rest = (text[:split.start()], text[split.end():]) if split else (text, "")
    headers = {}
    for line in head.splitlines():
        name, _, value = line.partition(":")
        if value:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _operation(part: str) -> dict[str, Any]:
    """One application/http part as {method, url, headers, body, content_id}."""
    outer, inner = _headers_and_rest(part)
    if "application/http" not in outer.get("content-type", ""):
        raise ApiError(400, PAYLOAD, "Every batch part must have Content-Type: application/http.")
    lines = inner.lstrip("\r\n").split("\n", 1)
    request_line = lines[0].strip()
    match = re.match(r"^(GET|POST|PATCH|PUT|DELETE) (\S+)(?: HTTP/1\.1)?$", request_line)
    if not match:
        raise ApiError(400, PAYLOAD, f"The batch part request line '{request_line}' is not METHOD URL HTTP/1.1.")
    headers, body = _headers_and_rest(lines[1] if len(lines) > 1 else "")
    return {"method": match.group(1), "url": match.group(2), "headers": headers, "body": body.strip(),
            "content_id": outer.get("content-id") or headers.get("content-id")}


def _parse(body: str, boundary: str) -> list[Any]:
    items: list[Any] = []
    for part in _split(body, boundary):
        headers, rest = _headers_and_rest(part)
        content_type = headers.get("content-type", "")
        if content_type.startswith("multipart/mixed"):
            inner = BOUNDARY.search(content_type)
            if not inner:
                raise ApiError(400, PAYLOAD, "A change set needs a boundary in its Content-Type.")
            operations = []
            for sub in _split(rest, inner.group(1)):
                if "multipart/mixed" in _headers_and_rest(sub)[0].get("content-type", ""):
                    raise ApiError(400, PAYLOAD, "Batch requests can't be nested: a change set holds requests only.")
                operation = _operation(sub)
                if operation["method"] == "GET":
                    raise ApiError(400, PAYLOAD, "GET requests are not allowed within change sets.")
                operations.append(operation)
            items.append(operations)
        else:
            items.append(_operation(part))
    return items


def _path(url: str, references: dict[str, str]) -> str:
    url = re.sub(r"^https?://[^/]+", "", url)
    for name, target in references.items():
        if url == name or url.startswith(name + "/"):
            url = target + url[len(name):]
    if not url.startswith("/"):
        url = f"{API_PREFIX}/{url}"
    return url


def _run(client, operation: dict, references: dict[str, str], environ: dict) -> Response:
    body = operation["body"]
    for name, target in references.items():
        body = body.replace(f'"{name}"', json.dumps(target))
    headers = {k: v for k, v in operation["headers"].items() if k not in ("content-length", "host")}
    response = client.open(_path(operation["url"], references), method=operation["method"], headers=headers,
                           data=body.encode() if body else None, environ_base=environ,
                           base_url=request.host_url)
    entity = response.headers.get("OData-EntityId")
    if operation["content_id"] and entity:
        references[f"${operation['content_id']}"] = re.sub(r"^https?://[^/]+", "", entity)
    return response


def _part(response: Response, content_id: str | None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"HTTP/1.1 {response.status_code} {HTTPStatus(response.status_code).phrase}", "OData-Version: 4.0"]
    entity = response.headers.get("OData-EntityId")
    if entity:
        lines += [f"Location: {entity}", f"OData-EntityId: {entity}"]
    if response.headers.get("Preference-Applied"):
        lines.append(f"Preference-Applied: {response.headers['Preference-Applied']}")
    payload = response.get_data(as_text=True)
    if payload:
        lines.append("Content-Type: application/json; odata.metadata=minimal")
    lines += ["", payload]
    return "\r\n".join(lines)


def execute():
    """POST [Organization URI]/api/data/v9.2/$batch."""
    box = sandbox()
    match = BOUNDARY.search(request.headers.get("Content-Type", ""))
    if not request.headers.get("Content-Type", "").startswith("multipart/mixed") or not match:
        raise ApiError(400, PAYLOAD, "A $batch request needs Content-Type: multipart/mixed; boundary=batch_<id>.")
    items = _parse(request.get_data(as_text=True), match.group(1))
    count = sum(len(i) if isinstance(i, list) else 1 for i in items)
    if count > MAX_REQUESTS:
        raise ApiError(400, PAYLOAD, f"The batch holds {count} requests; the limit is {MAX_REQUESTS}.")
    continue_on_error = "odata.continue-on-error" in preferences()
    client = current_app.test_client()
    environ = {"dynamics.inner": True, "dynamics.user": box.caller()}
    references: dict[str, str] = {}
    parts, failed = [], False
    for item in items:
        if isinstance(item, list):
            text, ok = _change_set(box, client, item, references, environ)
        else:
            response = _run(client, item, references, environ)
            text, ok = _part(response, item["content_id"]), response.status_code < 400
        if not ok and not continue_on_error:
            parts, failed = [text], True
            break
        parts.append(text)
    boundary = f"batchresponse_{uuid.uuid4()}"
    body = "".join(f"--{boundary}\r\n{p}\r\n" for p in parts) + f"--{boundary}--\r\n"
    answer = Response(body, status=400 if failed else 200, content_type=f"multipart/mixed; boundary={boundary}")
    answer.headers["OData-Version"] = "4.0"
    if continue_on_error:
        answer.headers["Preference-Applied"] = "odata.continue-on-error"
    return answer


def _change_set(box, client, operations: list[dict], references: dict, environ: dict) -> tuple[str, bool]:
    """Run a change set in one transaction; on the first failure undo it and answer that failure alone."""
    responses = []
    try:
        with box.store.transaction():
            for operation in operations:
                response = _run(client, operation, references, environ)
                if response.status_code >= 400:
                    responses = [(response, operation["content_id"])]
                    raise _Rollback()
                responses.append((response, operation["content_id"]))
    except _Rollback:
        return _part(*responses[0]), False
    boundary = f"changesetresponse_{uuid.uuid4()}"
    inner = "".join(f"--{boundary}\r\n{_part(r, cid)}\r\n" for r, cid in responses) + f"--{boundary}--"
    return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n{inner}", True
