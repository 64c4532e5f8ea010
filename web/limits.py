"""Request body limits per endpoint, enforced before any view reads a byte, and bounded URL ids.

Each CRM endpoint accepts what its CRM can send and no more; everything else (the console's forms,
the framed panels' forms) far less. The limit also holds for chunked bodies, which carry no
Content-Length: the WSGI input is cut off at the limit with a 413.
"""
from __future__ import annotations

import functools

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from connectors import registry

KIB = 1024
# The console's and panels' forms: a field mapping of every field of an object stays far below this.
DEFAULT_BYTES = 256 * KIB
# Largest signed 64-bit integer: ids above it exist in no store (SQLite and PostgreSQL both).
MAX_ID = 2**63 - 1


@functools.cache
def endpoint_limits() -> tuple[tuple[str, int], ...]:
    """(path prefix, bytes) of the endpoints whose senders may need more than the default."""
    limits = []
    for key in registry.keys():
        package = registry.get(key)
        # Each CRM's webhook intake and panel requests take what that CRM declares it sends.
        limits.append((f"/webhooks/{key}", package.webhooks.MAX_BODY_BYTES))
        if package.provider.embed_body_bytes:
            limits.append((f"/embed/{key}/", package.provider.embed_body_bytes))
    return tuple(limits)


def limit_for(path: str) -> int:
    """The most bytes a request body to this path may have."""
    return next((size for prefix, size in endpoint_limits() if path.startswith(prefix)), DEFAULT_BYTES)


class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` that matches only ids a database can hold; larger ones are a plain 404."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002 - werkzeug's names
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_ID if max is None else max,
                         signed=signed)


def init_app(app: Flask) -> None:
    """Set the global cap, the per-endpoint caps and the bounded int converter (before any route)."""
    app.config["MAX_CONTENT_LENGTH"] = max(size for _, size in endpoint_limits())
    app.url_map.converters["int"] = BoundedIntConverter

    @app.before_request
    def _limit_body():
        limit = limit_for(request.path)
        request.max_content_length = limit
        # A declared length over the limit is refused before any view, whatever it checks first.
        if (request.content_length or 0) > limit:
            raise RequestEntityTooLarge()
        if request.content_length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            # A chunked body is read here, at most up to the limit, so every view and the form parser
            # see it whole; one byte more than the limit is a 413, not a silently shortened body.
            if len(request.get_data(cache=True)) >= limit and request.stream.read(1):
                raise RequestEntityTooLarge()
        return None
