"""Fault knobs set by name at runtime, shared by a sandbox's request threads."""
from __future__ import annotations

import random
import threading
from dataclasses import asdict, fields
from typing import Any


class KnobBoard:
    """Holds a Knobs dataclass; update() sets knobs by name with the types of their defaults."""

    def __init__(self, knobs: Any):
        self._defaults = type(knobs)(**asdict(knobs))
        self.knobs = knobs
        self._lock = threading.Lock()
        self._random = random.Random(0)

    def update(self, changes: dict) -> Any:
        """Set knobs by name ({"reset": true} first clears them); unknown names are refused with a sentence."""
        changes = dict(changes)
        if changes.pop("reset", False):
            self.reset()
        known = {f.name for f in fields(self.knobs)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"Unknown knobs: {', '.join(sorted(unknown))}. Known knobs: "
                             f"{', '.join(sorted(known))}, and reset.")
        with self._lock:
            for name, value in changes.items():
                setattr(self.knobs, name, _like(getattr(self._defaults, name), value))
        return self.knobs

    def reset(self) -> None:
        """Back to the start-up values (no faults)."""
        with self._lock:
            self.knobs = type(self._defaults)(**asdict(self._defaults))
            self._random = random.Random(0)


def _like(default: Any, value: Any) -> Any:
    """value converted to the type of the knob's default (so JSON "5" or 5.0 sets an int knob to 5)."""
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, (int, float)):
        return type(default)(value)
    if isinstance(default, list):
        return [str(v) for v in value]
    return str(value)
