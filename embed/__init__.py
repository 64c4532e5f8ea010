"""The rep's panel embedded in the CRM (Salesforce Canvas first)."""
from __future__ import annotations

from flask import Flask

from embed.views import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    """Register the embedding blueprint at /embed."""
    app.register_blueprint(bp)
