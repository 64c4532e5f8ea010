"""The runtime the web app bound to itself, read from the current app (embed never imports web)."""
from __future__ import annotations

from flask import current_app

from sync.runtime import Runtime


def runtime() -> Runtime:
    """The current app's runtime (database, Redis, queues, config)."""
    return current_app.extensions["pipewise"]
