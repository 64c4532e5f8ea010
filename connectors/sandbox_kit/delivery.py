"""A background sender: items queued by request threads, batched, POSTed and retried with a growing delay."""
from __future__ import annotations

import threading
import time
from typing import Any

import requests


def retry_delay(first: float, cap: float, attempts: int) -> float:
    """The wait before the next try: first, doubled per failed attempt, at most cap."""
    return min(first * 2 ** (attempts - 1), cap)


class DeliveryQueue:
    """The queue and its thread; subclasses batch _incoming into _pending units (with .due) and send them."""

    thread_name = "sandbox-delivery"
    url: str | None = None  # where units go; None: off

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._incoming: list[tuple[float, Any]] = []   # (queued at, item), gathered for batch_seconds
        self._pending: list[Any] = []                  # units awaiting their first try or a retry
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- what subclasses provide ----------------------------------------------------------------

    def _batch_seconds(self) -> float:
        """How long to gather incoming items so they share one unit."""
        raise NotImplementedError

    def _timeout_seconds(self) -> float:
        """The timeout of one send."""
        raise NotImplementedError

    def _batch(self) -> None:
        """Turn self._incoming into units appended to self._pending (under the lock)."""
        raise NotImplementedError

    def _deliver(self, session: requests.Session, unit: Any) -> None:
        """Send one unit and record the outcome (outside the lock)."""
        raise NotImplementedError

    def _session_verify(self) -> str | bool:
        """TLS verification of the sending session (per-request verify still wins)."""
        return True

    # -- shared --------------------------------------------------------------------------------

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or awaiting a retry; True if that happened in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._incoming or self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def stop(self) -> None:
        """Stop the thread; unsent items are dropped."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout_seconds() + 1)
            self._thread = None

    def _ensure_thread(self) -> None:
        if self._thread is None and not self._stopping:
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        session = requests.Session()
        session.trust_env = False  # no proxies or REQUESTS_CA_BUNDLE from the environment; verify is chosen here
        session.verify = self._session_verify()
        try:
            while True:
                due = self._next_due()
                if due is None:
                    return
                for unit in due:
                    self._deliver(session, unit)
        finally:
            session.close()

    def _next_due(self) -> list[Any] | None:
        """Block until some units are due (new batches or retries); None when stopping."""
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if self._incoming:
                    gather_until = self._incoming[0][0] + self._batch_seconds()
                    if now < gather_until:
                        self._cond.wait(gather_until - now)
                        continue
                    self._batch()
                due = [unit for unit in self._pending if unit.due <= now]
                if due and self.url is not None:
                    return due
                waits = [unit.due - now for unit in self._pending]
                self._cond.wait(min(waits) if waits else None)
            return None
