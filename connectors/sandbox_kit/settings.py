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


# The seed data shipped with the project (datasets/README.md gives sources and licences).
SHIPPED_DATASETS = PROJECT_ROOT / "datasets"


def datasets_dir(configured: Path | str | None = None, crm: str = "Pipewise") -> Path:
    """The seed data folder: configured, then PIPEWISE_DATASETS, then the project's own datasets/."""
    if configured:
        path = Path(configured)
    elif os.environ.get("PIPEWISE_DATASETS"):
        path = Path(os.environ["PIPEWISE_DATASETS"])
    else:
        path = SHIPPED_DATASETS
    if not (path / "maven-crm").is_dir() or not (path / "olist-marketing-funnel").is_dir():
        raise FileNotFoundError(
            f"The {crm} seed data was not found in {path}. Set PIPEWISE_DATASETS to a folder holding "
            "maven-crm/ and olist-marketing-funnel/ (the project ships one in datasets/), "
            "or start the sandbox with seed='none'.")
    return path
