"""Security headers on every answer."""
from __future__ import annotations

from flask import Flask

from sync.runtime.config import Config

# Features no Pipewise page uses; denying them limits what injected content could do.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
HSTS = "max-age=31536000; includeSubDomains"


def init_app(app: Flask, config: Config) -> None:
    """Add the headers; embedded panels set their own frame-ancestors."""
    https = config.PUBLIC_URL.startswith("https://")

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        framed = "frame-ancestors" in response.headers.get("Content-Security-Policy", "")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'")
        if not framed:  # a view naming its own frame-ancestors (embed/) must not be blocked by XFO
            response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        # Whenever Pipewise is published over HTTPS, whatever the proxy in front says about this hop.
        if https:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
