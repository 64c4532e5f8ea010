"""Service protection limits: requests per sliding window and concurrent requests, per user.

Source: developer/data-platform/api-limits.md. The Web API answers 429 Too Many Requests with a Retry-After
header in seconds and {"error": {"code", "message"}}: 0x80072322 "Number of requests exceeded the limit of 6000
over time window of 300 seconds." and 0x80072326 "Number of concurrent requests exceeded the limit of 52.".
and 0x80072321 when the combined execution time of the window's requests passed 1,200,000 milliseconds.
"""
from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from contextlib import contextmanager
from typing import Iterator

from .api import ApiError

REQUESTS = "0x80072322"
EXECUTION_TIME = "0x80072321"
CONCURRENT = "0x80072326"


def too_many_requests(limit: int, window: float, retry_after: int) -> ApiError:
    return ApiError(429, REQUESTS, f"Number of requests exceeded the limit of {limit} over time window of "
                                   f"{int(window)} seconds.", {"Retry-After": str(retry_after)})


class ServiceProtection:
    """Counts each user's requests in the window (sandbox clock seconds) and those in flight."""

    def __init__(self, clock, faults):
        self.clock, self.faults = clock, faults
        self._lock = threading.Lock()
        self._seen: dict[str, deque] = defaultdict(deque)
        self._in_flight: dict[str, int] = defaultdict(int)
        self._spent: dict[str, deque] = defaultdict(deque)   # (finished at, milliseconds) per user

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()
            self._spent.clear()

    @contextmanager
    def admit(self, user: str) -> Iterator[None]:
        """Count one request of user for its duration; ApiError 429 when a limit is past."""
        knobs = self.faults.knobs
        if self.faults.take("throttle_next"):
            raise too_many_requests(knobs.requests_per_window, knobs.window_seconds, 1)
        now = self._now()
        with self._lock:
            seen = self._seen[user]
            while seen and seen[0] <= now - knobs.window_seconds:
                seen.popleft()
            if len(seen) >= knobs.requests_per_window:
                wait = math.ceil(seen[0] + knobs.window_seconds - now)
                raise too_many_requests(knobs.requests_per_window, knobs.window_seconds, max(1, wait))
            spent = self._spent[user]
            while spent and spent[0][0] <= now - knobs.window_seconds:
                spent.popleft()
            if sum(ms for _at, ms in spent) > knobs.execution_ms_per_window:
                wait = math.ceil(spent[0][0] + knobs.window_seconds - now)
                raise ApiError(429, EXECUTION_TIME, f"Combined execution time of incoming requests exceeded limit "
                                                    f"of {knobs.execution_ms_per_window:,} milliseconds over time "
                                                    f"window of {int(knobs.window_seconds)} seconds. Decrease number "
                                                    "of concurrent requests or reduce the duration of requests and "
                                                    "try again later.", {"Retry-After": str(max(1, wait))})
            if self._in_flight[user] >= knobs.concurrent_limit:
                raise ApiError(429, CONCURRENT, f"Number of concurrent requests exceeded the limit of "
                                                f"{knobs.concurrent_limit}.", {"Retry-After": "1"})
            seen.append(now)
            self._in_flight[user] += 1
        started = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[user] -= 1
                self._spent[user].append((self._now(), (time.monotonic() - started) * 1000))

    def remaining(self, user: str) -> int:
        with self._lock:
            return max(0, self.faults.knobs.requests_per_window - len(self._seen[user]))
