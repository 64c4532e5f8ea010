"""Which connector packages exist, loaded lazily by provider key."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from connectors.base import Provider

# provider key → package; every package has the same module names.
PACKAGES: dict[str, str] = {
    "salesforce": "connectors.salesforce",
    "hubspot": "connectors.hubspot",
    "dynamics": "connectors.dynamics",
}


@dataclass(frozen=True)
class ConnectorPackage:
    provider: type[Provider]
    client: ModuleType
    mapping: ModuleType
    webhooks: ModuleType


def keys() -> tuple[str, ...]:
    """Every registered provider key, sorted."""
    return tuple(sorted(PACKAGES))


def panel_keys(kind: str) -> tuple[str, ...]:
    """The providers whose panel is embedded this way ("canvas", "card", "signin"), sorted."""
    return tuple(key for key in keys() if get(key).provider.panel == kind)


def provider(key: str) -> type[Provider]:
    """The provider class for a key, importing only its ``provider`` module (no client or SDK)."""
    try:
        package = PACKAGES[key]
    except KeyError:
        raise KeyError(f"Pipewise has no connector called {key!r}; known: {', '.join(sorted(PACKAGES))}")
    module = importlib.import_module(f"{package}.provider")
    return next(obj for obj in vars(module).values()
                if isinstance(obj, type) and issubclass(obj, Provider) and obj is not Provider
                and getattr(obj, "key", None) == key)


def get(key: str) -> ConnectorPackage:
    """The connector package for a provider key."""
    declared = provider(key)
    package = PACKAGES[key]
    return ConnectorPackage(
        provider=declared,
        client=importlib.import_module(f"{package}.client"),
        mapping=importlib.import_module(f"{package}.mapping"),
        webhooks=importlib.import_module(f"{package}.webhooks"),
    )
