"""The runtime (database, Redis, queues, cipher) bound to the app in the factory."""
from __future__ import annotations

from flask import Flask, current_app

from sync import runtime as runtime_module
from sync.runtime import Runtime
from sync.runtime.config import Config


def init_app(app: Flask, config: Config) -> None:
    """Build the runtime from the config, unless a test handed one in, and keep it on the app."""
    rt = getattr(config, "runtime", None) or Runtime.from_config(config)
    runtime_module.use(rt)
    app.extensions["pipewise"] = rt

    @app.teardown_appcontext
    def _close(_exc):
        return None


def runtime() -> Runtime:
    """The app's runtime."""
    return current_app.extensions["pipewise"]
