"""Fault knobs (rate limits, 5xx, slowness, validation rejections) and the daily API counter."""
from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors.sandbox_kit.knobs import KnobBoard

from .clock import SandboxClock

FAULT_BODIES = {
    429: [{"message": "Too many requests. Retry after the delay in the Retry-After header.",
           "errorCode": "TOO_MANY_REQUESTS"}],
    503: [{"message": "The server is temporarily unable to handle your request. Retry later.",
           "errorCode": "SERVER_UNAVAILABLE"}],
}
ERROR_BODY = [{"message": "An unexpected error occurred. Please include this ErrorId if you contact "
                          "support: 1234567890-12345 (-1234567890)", "errorCode": "UNKNOWN_EXCEPTION"}]


@dataclass
class Knobs:
    """Every knob; POST /_sandbox/knobs takes any subset of these names."""

    rate_limit_count: int = 0          # the next N REST calls are throttled
    rate_limit_fraction: float = 0.0   # and this share of calls after them (seeded, so repeatable)
    rate_limit_status: int = 429       # 429 or 503
    rate_limit_retry_after: int = 1    # seconds, in the Retry-After header
    fail_count: int = 0                # the next N REST calls whose path contains fail_path fail
    fail_path: str = ""
    fail_status: int = 500
    delay_ms: int = 0                  # every REST call waits this long first
    token_ttl_seconds: int = 7200
    refresh_token_rotation: bool = False
    daily_api_limit: int = 15000
    reject_ids: list[str] = field(default_factory=list)  # writes to these ids fail validation
    reject_message: str = "Pipewise fields are locked on this record by a validation rule."
    # Collaborative Forecasts (ForecastingQuota exists only with it on).
    forecasting_enabled: bool = True
    # Concurrent long-running requests (API Request Limits and Allocations: calls of 20 s or more; at most
    # 5 at once in a Developer Edition org, 25 in production), refused with REQUEST_LIMIT_EXCEEDED beyond.
    long_request_seconds: float = 20.0
    concurrent_long_limit: int = 5
    # Bulk API 2.0 query jobs: objects the org's Bulk API refuses (INVALIDENTITY), and how many of the
    # next jobs end Failed (as a job whose internal retries ran out does).
    bulk_unsupported_objects: list[str] = field(default_factory=list)
    bulk_failing_jobs: int = 0


class Faults(KnobBoard):
    """The knobs of one sandbox, shared by its request threads."""

    def fault_for(self, path: str) -> tuple[int, dict, list] | None:
        """The fault to answer this REST call with, if any (consumes counted faults)."""
        with self._lock:
            knobs = self.knobs
            throttled = knobs.rate_limit_count > 0
            if throttled:
                knobs.rate_limit_count -= 1
            elif knobs.rate_limit_fraction > 0:
                throttled = self._random.random() < knobs.rate_limit_fraction
            if throttled:
                status = knobs.rate_limit_status
                return status, {"Retry-After": str(knobs.rate_limit_retry_after)}, FAULT_BODIES.get(
                    status, FAULT_BODIES[503])
            if knobs.fail_count > 0 and knobs.fail_path in path:
                knobs.fail_count -= 1
                return knobs.fail_status, {}, ERROR_BODY
        return None

    def take_bulk_failure(self) -> bool:
        """Whether the next query job is to fail (consumes one)."""
        with self._lock:
            if self.knobs.bulk_failing_jobs > 0:
                self.knobs.bulk_failing_jobs -= 1
                return True
        return False

    def rejects(self, record_id: str) -> str | None:
        """The validation-rule message for a write to this record, if the knob targets it."""
        knobs = self.knobs
        if record_id in knobs.reject_ids or record_id[:15] in {i[:15] for i in knobs.reject_ids}:
            return knobs.reject_message
        return None


class Concurrency:
    """The requests in flight; a new one is refused while too many have run for long already."""

    def __init__(self, faults: Faults):
        self.faults = faults
        self._started: dict[int, float] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def enter(self) -> int | None:
        """A slot for a new request, or None when the long-running ones are at their limit."""
        knobs = self.faults.knobs
        with self._lock:
            now = time.monotonic()
            long_running = sum(1 for began in self._started.values() if now - began >= knobs.long_request_seconds)
            if long_running >= knobs.concurrent_long_limit:
                return None
            slot = next(self._numbers)
            self._started[slot] = now
            return slot

    def leave(self, slot: int) -> None:
        """The request holding this slot has ended."""
        with self._lock:
            self._started.pop(slot, None)


class ApiUsage:
    """The org's API call counter over a 24-hour window of sandbox time."""

    def __init__(self, clock: SandboxClock, faults: Faults):
        self.clock = clock
        self.faults = faults
        self.used = 0
        self._window_start: datetime = clock.now()
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        return self.faults.knobs.daily_api_limit

    def _roll(self) -> None:
        if self.clock.now() - self._window_start >= timedelta(hours=24):
            self.used, self._window_start = 0, self.clock.now()

    def exhausted(self) -> bool:
        """True when no call is left today."""
        with self._lock:
            self._roll()
            return self.used >= self.limit

    def spend(self) -> bool:
        """Count one call; False when the day's quota is already spent."""
        with self._lock:
            self._roll()
            if self.used >= self.limit:
                return False
            self.used += 1
            return True

    def reset(self) -> None:
        """Give the full quota back."""
        with self._lock:
            self.used, self._window_start = 0, self.clock.now()

    def header(self) -> str:
        """The Sforce-Limit-Info header value."""
        with self._lock:
            self._roll()
            return f"api-usage={self.used}/{self.limit}"
