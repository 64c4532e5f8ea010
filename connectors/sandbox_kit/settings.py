"""What the sandboxes' settings share: building them from overrides and finding the datasets."""
from __future__ import annotations

import os
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class CoercibleSettings:
    """A mixin for a settings dataclass: coerce() takes an instance, a dict of overrides or None."""

    @classmethod
    def coerce(cls, value: Any) -> Any:
        """Settings from an instance, a dict of overrides or None."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return replace(value)  # a copy: runtime changes (deliveries, pages) stay with one sandbox
        known = {f.name for f in fields(cls)}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"Unknown sandbox settings: {', '.join(sorted(unknown))}. "
                             f"Known settings: {', '.join(sorted(known))}.")
        settings = replace(cls(), **value)
        settings._normalize()
        return settings

    def _normalize(self) -> None:
        """Turn overrides given as JSON-ish values (text dates, lists) into the field types."""


def datasets_dir(configured: Path | str | None, crm: str) -> Path:
    """The shared datasets folder: configured, then PIPEWISE_DATASETS, then ../shared/datasets."""
    if configured:
        path = Path(configured)
    elif os.environ.get("PIPEWISE_DATASETS"):
        path = Path(os.environ["PIPEWISE_DATASETS"])
    else:
        path = PROJECT_ROOT.parent / "shared" / "datasets"
    if not (path / "maven-crm").is_dir() or not (path / "olist-marketing-funnel").is_dir():
        raise FileNotFoundError(
            f"The {crm} sandbox cannot seed: the datasets were not found in {path}. "
            "Set PIPEWISE_DATASETS to the folder holding maven-crm/ and olist-marketing-funnel/, "
            "or start the sandbox with seed='none'.")
    return path
