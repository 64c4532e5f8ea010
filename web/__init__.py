"""The Pipewise web app factory."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask

from sync.runtime.config import Config


def create_app(config: Config | None = None) -> Flask:
    """Build the Flask app: runtime, blueprints, CLI."""
    from web import log_redaction

    log_redaction.install()
    config = config or Config()
    app = Flask(__name__)
    app.config["PIPEWISE"] = config
    app.config["SECRET_KEY"] = config.SECRET_KEY or _local_secret(Path(config.VAR_DIR) / "secret.key")
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=config.SESSION_LIFETIME_SECONDS)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # The session cookie never travels in clear text, except on this machine during development.
    app.config["SESSION_COOKIE_SECURE"] = not config.local_development

    from web import extensions, limits, proxies, sessions
    extensions.init_app(app, config)
    sessions.init_app(app, app.extensions["pipewise"].redis)
    limits.init_app(app)
    proxies.init_app(app, config)

    from web import admin, auth, cli, csrf, install, local_time, security, template_filters, webhooks
    template_filters.init_app(app)
    local_time.init_app(app)
    security.init_app(app, config)
    csrf.init_app(app)
    auth.init_app(app)
    app.register_blueprint(admin.bp)
    app.register_blueprint(install.bp)
    app.register_blueprint(webhooks.bp)
    from web import api, errors, ops
    from web.admin import api_keys as api_keys_admin
    from web.admin import mapping as admin_mapping
    app.register_blueprint(ops.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(api_keys_admin.bp)
    app.register_blueprint(admin_mapping.bp)
    import embed
    embed.init_app(app)
    errors.init_app(app)
    from web import error_pages
    error_pages.init_app(app)
    cli.init_app(app)
    return app


def _local_secret(path: Path) -> str:
    """A signing secret generated under var/ on the first local run."""
    import os
    import secrets

    from sync.store.private_files import private_dir

    private_dir(path.parent)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
