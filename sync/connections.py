"""Connections: create them from an OAuth grant, open their clients, keep their tokens safe."""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors import registry
from connectors.base import Client, OrgProfile
from connectors.errors import ConnectorError
from connectors.oauth import OAuthApp
from sync.runtime.config import Config
from sync.store import Connection, Organization, utcnow
from sync.store.crypto import TokenCipher

log = logging.getLogger(__name__)


def oauth_app(config: Config, provider_key: str) -> OAuthApp:
    """The registered OAuth app for a provider, from the configuration."""
    package = registry.get(provider_key)
    prefix = provider_key.upper()
    return OAuthApp(
        provider=package.provider,
        base_url=getattr(config, f"{prefix}_LOGIN_URL"),
        client_id=getattr(config, f"{prefix}_CLIENT_ID"),
        client_secret=getattr(config, f"{prefix}_CLIENT_SECRET"),
        verify=config.ca_bundle,
        # A provider whose token endpoint is on its API host (HubSpot) says so on its class.
        token_base_url=(getattr(config, f"{prefix}_API_URL", None)
                        if package.provider.token_on_api_host else None),
        scopes=package.provider.requested_scopes(config),
    )


def read_org_profile(config: Config, provider_key: str, token: dict[str, Any]) -> OrgProfile:
    """The remote organization's name and time zone, read with a fresh grant; empty when unreadable.

    Never raises: a connection is worth having without its name, so a failure is logged and the
    install goes on with the provider's label.
    """
    package = registry.get(provider_key)
    try:
        client = package.client.build_client(token=token, oauth=oauth_app(config, provider_key),
                                             on_token=None, config=config)
        return client.org_profile()
    except (ConnectorError, OSError, LookupError, ValueError, TypeError) as exc:
        log.warning("install.org-profile-unreadable provider=%s error=%s %s", provider_key,
                    type(exc).__name__, str(exc)[:200])
        return OrgProfile()


def default_label(provider_name: str, remote_org_id: str) -> str:
    """What a connection is called when its organization's name is unknown ("Salesforce 00D…")."""
    return f"{provider_name} {remote_org_id}"


def install(session: Session, cipher: TokenCipher, provider_key: str, token: dict[str, Any],
            installed_by: str | None = None, organization_name: str | None = None,
            organization_id: int | None = None, profile: OrgProfile | None = None) -> Connection:
    """Create (or re-authorize) the Connection a fresh OAuth grant belongs to.

    A new connection joins ``organization_id`` (a company is one organization with many
    connections), or a new organization when None, named after the remote organization
    (``profile``, see read_org_profile). An existing connection is re-authorized only
    for the organization it belongs to: a grant never moves a connection to another organization.
    A new connection's webhook secret is returned once, on ``connection.issued_webhook_secret``.
    """
    provider = registry.get(provider_key).provider
    identity = provider.identity(token)
    profile = profile or OrgProfile()
    connection = session.scalar(select(Connection).where(
        Connection.provider == provider_key, Connection.remote_org_id == identity.remote_org_id))
    if connection is not None and organization_id is not None and connection.organization_id != organization_id:
        raise ForeignConnection(
            f"This {provider.name} account is already connected to another Pipewise organization. "
            "Ask that organization's admin to disconnect it there first.")
    if connection is None:
        if organization_id is None:
            organization = Organization(name=organization_name or profile.name
                                        or default_label(provider.name, identity.remote_org_id))
            session.add(organization)
            session.flush()
            organization_id = organization.id
        connection = Connection(organization_id=organization_id, provider=provider_key,
                                remote_org_id=identity.remote_org_id)
        connection.issued_webhook_secret = rotate_webhook_secret(connection)
        session.add(connection)
    connection.instance_url = identity.instance_url
    connection.scopes = token.get("scope", "") or ""
    connection.token_ciphertext = cipher.encrypt_json(token)
    connection.status = "healthy"
    connection.status_reason = None
    connection.paused_until = None
    connection.installed_by = installed_by
    apply_org_profile(session, connection, profile)
    session.flush()
    return connection


def apply_org_profile(session: Session, connection: Connection, profile: OrgProfile) -> None:
    """Keep what the CRM says of its organization; an organization still called by the connection's id
    label (installed before names were read) takes the CRM's name, a name an admin chose stays."""
    if profile.name:
        label = default_label(registry.get(connection.provider).provider.name, connection.remote_org_id)
        with session.no_autoflush:  # a new connection is flushed whole, by the caller
            organization = session.get(Organization, connection.organization_id)
        if organization is not None and organization.name == label:
            organization.name = profile.name[:255]
        connection.remote_org_name = profile.name[:255]
    if profile.time_zone:
        connection.time_zone = profile.time_zone[:64]


class ForeignConnection(ValueError):
    """The grant is for a CRM account that another organization has connected."""


def webhook_secret_hash(secret: str) -> str:
    """What the store keeps of a webhook secret: its SHA-256 (the secret is 192 random bits)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def rotate_webhook_secret(connection: Connection) -> str:
    """Give the connection a new webhook secret; return it (the only time it exists in clear)."""
    secret = secrets.token_urlsafe(24)
    connection.webhook_secret_hash = webhook_secret_hash(secret)
    return secret


def webhook_secret_matches(connection: Connection | None, given: str) -> bool:
    """Whether a secret from a webhook URL is the connection's, compared in constant time."""
    expected = connection.webhook_secret_hash if connection is not None else "0" * 64
    return hmac.compare_digest(expected.encode(), webhook_secret_hash(given).encode()) and connection is not None


def token_saver(sessions: sessionmaker[Session], cipher: TokenCipher, connection_id: int):
    """A callback that persists a refreshed token set at once, in its own transaction."""
    def save(token: dict[str, Any]) -> None:
        with sessions() as session:
            connection = session.get(Connection, connection_id)
            connection.token_ciphertext = cipher.encrypt_json(token)
            session.commit()
    return save


def open_client(config: Config, sessions: sessionmaker[Session], cipher: TokenCipher,
                connection: Connection) -> Client:
    """A connector client for the connection, refreshing and persisting tokens as it goes."""
    package = registry.get(connection.provider)
    token = cipher.decrypt_json(connection.token_ciphertext)
    token.setdefault("instance_url", connection.instance_url)
    return package.client.build_client(
        token=token, oauth=oauth_app(config, connection.provider),
        on_token=token_saver(sessions, cipher, connection.id), config=config)


def mark(session: Session, connection: Connection, status: str, reason: str | None = None,
         paused_until: datetime | None = None) -> None:
    """Set a connection's status with the reason an admin reads."""
    connection.status = status
    connection.status_reason = reason
    connection.paused_until = paused_until
    connection.updated_at = utcnow()


def record_url(connection: Connection | None, object_type: str, remote_id: str) -> str | None:
    """The record's page in its CRM, as its provider builds it (the provider's ``record_url`` hook)."""
    if connection is None:
        return None
    return registry.get(connection.provider).provider.record_url(
        connection.instance_url or "", connection.remote_org_id, object_type, remote_id)
