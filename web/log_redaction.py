"""Secrets never reach a log line: every record is redacted as it is made, whoever logs it.

Access logs (werkzeug's, gunicorn's) print request paths and query strings, and those carry
secrets: a webhook's path secret is in its URL path, panel tokens ride in ``pt=``, OAuth
callbacks carry ``code`` and ``state``. The record factory is process-wide, so it covers loggers
Pipewise does not configure.
"""
from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
PATTERNS: tuple[tuple[re.Pattern, str], ...] = (
    # The per-connection secret of a CRM that signs nothing: a webhook route has at most the org
    # and then the secret (connectors.inbound), so a third segment is always one: /webhooks/<key>/<org>/<secret>
    (re.compile(r"(/webhooks/[^/\s?\"']+/[^/\s?\"']+/)[^/\s?\"']+"), r"\1" + REDACTED),
    # Bearer credentials in query strings: panel tokens, OAuth codes and state, signed requests.
    (re.compile(r"([?&](?:pt|code|state|signed_request|token|access_token|refresh_token|client_secret)=)"
                r"[^&\s\"']+", re.IGNORECASE), r"\1" + REDACTED),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1" + REDACTED),
    # API keys: pw_<id>_<secret>; the id stays, to tell keys apart.
    (re.compile(r"\b(pw_\d+_)[A-Za-z0-9]+"), r"\1" + REDACTED),
)
_installed = False


def redact(text: str) -> str:
    """The text with every known kind of secret replaced."""
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _needs_redaction(text: str) -> bool:
    return any(pattern.search(text) for pattern, _ in PATTERNS)


def install() -> None:
    """Redact every log record of this process from now on (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is the logging module's to report
            return record
        if _needs_redaction(message):
            record.msg, record.args = redact(message), ()
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
