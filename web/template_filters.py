"""Template filters the console shares: names as the CRM vendors write them."""
from __future__ import annotations

from flask import Flask

from connectors import registry


def crm_name(provider_key: str) -> str:
    """The CRM's own spelling of its name ("HubSpot", never "Hubspot")."""
    try:
        return registry.get(provider_key).provider.name
    except KeyError:
        return provider_key.capitalize()


def connection_name(connection) -> str:
    """What the console calls a connection: the CRM organization's own name, else where it lives."""
    return connection.remote_org_name or connection.instance_url or connection.remote_org_id


def init_app(app: Flask) -> None:
    """Register the filters."""
    app.add_template_filter(crm_name)
    app.add_template_filter(connection_name)
