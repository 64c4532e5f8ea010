"""Fault knobs (throttling, 5xx, slowness, rejections), HubSpot's rate limits and the daily call counter.

Apps using OAuth have no daily limit, only the burst limit, and their answers carry no
X-HubSpot-RateLimit-Daily* headers (HubSpot changelog "Rate limit headers will now appear for OAuth
authenticated calls"; "API usage guidelines"). Every sandbox token is an OAuth token, so the day's calls
are counted for the control API but never refused; a DAILY 429 only comes from the throttle knob.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

from connectors.sandbox_kit.knobs import KnobBoard

from .clock import SandboxClock

TEN_SECONDS_MS = 10_000


@dataclass
class Knobs:
    """Every knob; POST /_sandbox/knobs takes any subset of these names (and reset)."""

    rate_limit_count: int = 0            # the next N API calls answer 429 ...
    rate_limit_fraction: float = 0.0     # ... and this share of later calls (seeded, so repeatable)
    rate_limit_policy: str = "TEN_SECONDLY_ROLLING"   # or SECONDLY, DAILY
    ten_secondly_limit: int = 110        # real rolling limit per app and portal; 0 turns it off
    search_per_second: int = 4           # search calls per second per token; 0 turns it off
    search_lag_ms: int = 0               # records changed this recently are not yet visible to search
    fail_count: int = 0                  # the next N API calls whose path contains fail_path fail ...
    fail_path: str = ""
    fail_status: int = 500               # ... with this status
    delay_ms: int = 0                    # API calls whose path contains delay_path wait this long first
    delay_path: str = ""
    token_ttl_seconds: int = 1800
    daily_limit: int = 500_000           # reported by the control API; OAuth calls have no daily limit
    reject_ids: list[str] = field(default_factory=list)   # batch/single updates of these ids fail per input
    reject_message: str = "Property values were not valid"
    reject_category: str = "VALIDATION_ERROR"


class Faults(KnobBoard):
    """The knobs of one sandbox, shared by its request threads."""

    def forced_throttle(self) -> str | None:
        """The policy name when a throttle knob hits this call (consumes counted throttles)."""
        with self._lock:
            knobs = self.knobs
            if knobs.rate_limit_count > 0:
                knobs.rate_limit_count -= 1
                return knobs.rate_limit_policy
            if knobs.rate_limit_fraction > 0 and self._random.random() < knobs.rate_limit_fraction:
                return knobs.rate_limit_policy
        return None

    def failure(self, path: str) -> int | None:
        """The 5xx status to answer this call with, if a fail knob targets it."""
        with self._lock:
            knobs = self.knobs
            if knobs.fail_count > 0 and knobs.fail_path in path:
                knobs.fail_count -= 1
                return knobs.fail_status
        return None

    def delay(self, path: str) -> float:
        """Seconds to wait before answering this call."""
        knobs = self.knobs
        return knobs.delay_ms / 1000 if knobs.delay_ms and knobs.delay_path in path else 0.0

    def rejects(self, record_id: str) -> tuple[str, str] | None:
        """(category, message) when the reject knob targets this record."""
        knobs = self.knobs
        return (knobs.reject_category, knobs.reject_message) if str(record_id) in knobs.reject_ids else None


class RateLimits:
    """Rolling windows: calls per 10 s per app, search calls per second per token; calls per day counted."""

    def __init__(self, clock: SandboxClock, faults: Faults):
        self.clock, self.faults = clock, faults
        self._lock = threading.Lock()
        self._calls: dict[str, deque] = defaultdict(deque)
        self._searches: dict[str, deque] = defaultdict(deque)
        self.daily_used = 0
        self._day = clock.now().date()

    @staticmethod
    def _trim(window: deque, now: float, span: float) -> None:
        while window and window[0] <= now - span:
            window.popleft()

    def _roll_day(self) -> None:
        today = self.clock.now().date()
        if today != self._day:
            self._day, self.daily_used = today, 0

    def admit(self, app: str, token: str, search: bool) -> str | None:
        """Count one call; the policy name (SECONDLY, TEN_SECONDLY_ROLLING) when it is refused."""
        knobs = self.faults.knobs
        now = time.monotonic()
        with self._lock:
            self._roll_day()
            calls = self._calls[app]
            self._trim(calls, now, TEN_SECONDS_MS / 1000)
            if knobs.ten_secondly_limit and len(calls) >= knobs.ten_secondly_limit:
                return "TEN_SECONDLY_ROLLING"
            if search and knobs.search_per_second:
                searches = self._searches[token]
                self._trim(searches, now, 1.0)
                if len(searches) >= knobs.search_per_second:
                    return "SECONDLY"
                searches.append(now)
            calls.append(now)
            self.daily_used += 1
        return None

    def headers(self, app: str) -> dict[str, str]:
        """The X-HubSpot-RateLimit-* headers of an answer to an OAuth app (burst limit only)."""
        knobs = self.faults.knobs
        with self._lock:
            self._roll_day()
            calls = self._calls[app]
            self._trim(calls, time.monotonic(), TEN_SECONDS_MS / 1000)
            limit = knobs.ten_secondly_limit
            return {"X-HubSpot-RateLimit-Max": str(limit),
                    "X-HubSpot-RateLimit-Remaining": str(max(limit - len(calls), 0)),
                    "X-HubSpot-RateLimit-Interval-Milliseconds": str(TEN_SECONDS_MS)}

    def reset(self) -> None:
        """Forget every window and give the daily quota back."""
        with self._lock:
            self._calls.clear()
            self._searches.clear()
            self.daily_used = 0
