"""The sandbox certificates now live in connectors.sandbox_kit.certs; this name stays for older imports."""
from connectors.sandbox_kit.certs import HOSTS, ensure_certificates, server_context

__all__ = ["HOSTS", "ensure_certificates", "server_context"]
