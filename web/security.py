"""Security headers on every answer."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Add the headers; embedded panels set their own frame-ancestors."""

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        framed = "frame-ancestors" in response.headers.get("Content-Security-Policy", "")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'")
        if not framed:  # a view naming its own frame-ancestors (embed/) must not be blocked by XFO
            response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response
