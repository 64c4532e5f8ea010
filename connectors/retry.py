"""Retrying a remote call on Retriable errors: exponential backoff with jitter, honouring Retry-After."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from connectors.errors import Retriable

T = TypeVar("T")

# A remote asking for more than this is better served by failing the run and rescheduling it.
MAX_RETRY_AFTER = 300.0


class _WaitRetryAfter:
    """Wait what the remote asked for (Retry-After), else back off exponentially with jitter."""

    def __init__(self, initial: float, maximum: float):
        self._backoff = wait_exponential_jitter(initial=initial, max=maximum, jitter=initial)

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(max(float(retry_after), 0.0), MAX_RETRY_AFTER)
        return self._backoff(state)


def call_with_retries(fn: Callable[[], T], *, max_attempts: int = 5,
                      sleep: Callable[[float], None] = time.sleep,
                      initial_wait: float = 1.0, max_wait: float = 60.0) -> T:
    """Call ``fn`` until it returns, retrying Retriable errors; the last error is raised as is."""
    retrying = Retrying(
        retry=retry_if_exception_type(Retriable),
        stop=stop_after_attempt(max(1, max_attempts)),
        wait=_WaitRetryAfter(initial_wait, max_wait),
        sleep=sleep,
        reraise=True,
    )
    return retrying(fn)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given in seconds (HTTP dates are rare from CRMs: ignored)."""
    if not value:
        return None
    try:
        return max(float(value.strip()), 0.0)
    except ValueError:
        return None
