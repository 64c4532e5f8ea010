"""The panels embedded in the CRMs, served for every registered provider by its panel kind."""
from __future__ import annotations

from flask import Flask

from embed.views import bp
from embed import card as _card  # noqa: F401 - adds the CRM card routes to bp
from embed import manager as _manager  # noqa: F401 - adds the team panel routes to bp
from embed import canvas_panel as _canvas_panel  # noqa: F401 - adds each canvas provider's routes to bp
from embed import signin_panel as _signin_panel  # noqa: F401 - adds the signed-in panel routes to bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    """Register the embedding blueprint at /embed."""
    app.register_blueprint(bp)
