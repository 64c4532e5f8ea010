"""Redis locks that stay held for as long as the work under them runs, on any number of workers.

A lock's TTL only frees it after a crash: while the job lives, a thread renews it every third of
the TTL, so a slow page, a long CRM answer or a backoff sleep never lets a second holder in. When
the renewal fails (Redis lost the key: it restarted, or the process stalled past the TTL) the work
learns it at its next ``check()`` and stops before writing again.
"""
from __future__ import annotations

import logging
import threading

from redis.exceptions import LockError, RedisError
from redis.lock import Lock

log = logging.getLogger(__name__)


class LockLost(RuntimeError):
    """The lock was lost while the work ran; another holder may have started."""


class KeptLock:
    """A non-blocking Redis lock renewed from a thread while held."""

    def __init__(self, redis, name: str, ttl: int):
        # Not thread-local: the renewing thread must see the token the job's thread took.
        self.lock = Lock(redis, name, timeout=ttl, blocking=False, thread_local=False)
        self.name, self.ttl = name, ttl
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self, wait_seconds: float = 0) -> bool:
        """Take the lock, waiting up to ``wait_seconds`` for its holder; start renewing it."""
        taken = self.lock.acquire(blocking=wait_seconds > 0, blocking_timeout=wait_seconds or None)
        if taken:
            self._thread = threading.Thread(target=self._renew, name=f"renew {self.name}", daemon=True)
            self._thread.start()
        return bool(taken)

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.lock.reacquire()
            except (LockError, RedisError) as exc:
                self.lost = True
                log.warning("lock.lost name=%s error=%s", self.name, type(exc).__name__)
                return

    def check(self) -> None:
        """Raise LockLost when the lock could not be renewed."""
        if self.lost:
            raise LockLost(f"The lock {self.name} expired while the work ran; it stopped so that two runs "
                           "never write at once. It runs again with the next queued job.")

    def release(self) -> None:
        """Stop renewing and release (a lock already lost is only logged)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.lock.release()
        except LockError:
            log.warning("lock.expired name=%s", self.name)
