"""Runtime knobs of a Dataverse sandbox: service protection limits, injected faults, token and bulk behaviour."""
from __future__ import annotations

from dataclasses import dataclass

from connectors.sandbox_kit.knobs import KnobBoard


@dataclass
class Knobs:
    """Set by name through /_sandbox/knobs; every value here is the environment's normal behaviour."""

    # Service protection limits per user and web server (api-limits.md): 6,000 requests and 20 minutes of
    # combined execution time in a 5-minute sliding window, and 52 concurrent requests.
    requests_per_window: int = 6000
    execution_ms_per_window: int = 1_200_000
    window_seconds: float = 300.0
    concurrent_limit: int = 52
    throttle_next: int = 0          # answer the next N Web API requests with 429 (0x80072322) at once
    fail_next: int = 0              # answer the next N Web API requests with fail_status
    fail_status: int = 503
    slow_seconds: float = 0.0       # hold every Web API request this long before serving it
    expire_delta_tokens: bool = False   # every $deltatoken is refused as expired (0x80044352)
    bulk_max_targets: int = 0       # Targets per CreateMultiple/UpdateMultiple/UpsertMultiple; 0: no fixed cap


class Faults(KnobBoard):
    """The knob board plus counters that consume one-shot faults."""

    def __init__(self) -> None:
        super().__init__(Knobs())

    def take(self, name: str) -> bool:
        """True (and one fewer left) when a one-shot fault of this name is pending."""
        with self._lock:
            left = getattr(self.knobs, name)
            if left > 0:
                setattr(self.knobs, name, left - 1)
                return True
            return False
