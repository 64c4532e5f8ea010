"""Behind a TLS proxy: trust its X-Forwarded-* headers exactly as many hops deep as configured."""
from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from sync.runtime.config import Config


def init_app(app: Flask, config: Config) -> None:
    """Wrap the app in ProxyFix when PIPEWISE_PROXY_COUNT names proxies; else headers are ignored.

    Trusting more hops than there are proxies would let a client choose its own address and scheme.
    """
    count = config.PROXY_COUNT
    if count > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count)
