"""HubSpot's error answers as typed connector errors.

HubSpot answers errors as {status: "error", message, correlationId, category, errors?, context?}
(the Error schema of every API description in HubSpot's public API spec collection). A token without a
scope the call needs gets 403 with category MISSING_SCOPES and the scopes in
errors[].context.requiredGranularScopes.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.client_base import SessionExpired
from connectors.errors import Fatal, QuotaExceeded, Retriable, Skippable, error_for_status
from connectors.hubspot.sdk import error_body
from connectors.retry import parse_retry_after

QUOTA_PAUSE = timedelta(hours=1)        # a daily limit resets at the portal's midnight: look hourly
POLICY_WAITS = {"SECONDLY": 1.0, "TEN_SECONDLY_ROLLING": 10.0}
MISSING_SCOPES = "MISSING_SCOPES"



def required_scopes(body: dict[str, Any]) -> list[str]:
    """The scopes a 403 MISSING_SCOPES answer names."""
    found: list[str] = []
    for detail in [body, *(body.get("errors") or [])]:
        context = detail.get("context") if isinstance(detail, dict) else None
        for scope in (context or {}).get("requiredGranularScopes") or []:
            if isinstance(scope, str) and scope not in found:
                found.append(scope)
    return found


def translate(exc: Any) -> Exception:
    """The connector error for an exception of the official client (each sub-package has its own class)."""
    status = int(exc.status or 0)
    body = error_body(exc)
    message, category = body.get("message") or exc.reason or "error", body.get("category")
    if status == 0:
        return Fatal(f"Pipewise could not make a trusted connection to HubSpot: {exc.reason}. "
                     "Check the CA bundle setting.")
    if status == 401:
        return SessionExpired(message)
    headers = getattr(exc, "headers", None) or {}
    if status == 429:
        policy = body.get("policyName") or ""
        if policy == "DAILY":
            resume_at = datetime.now(timezone.utc).replace(tzinfo=None) + QUOTA_PAUSE
            return QuotaExceeded(f"HubSpot's daily API limit for this portal is used up ({message}). "
                                 "Pipewise pauses this connection and tries again in an hour.",
                                 status=status, code=policy, resume_at=resume_at)
        wait = parse_retry_after(headers.get("Retry-After"))
        if wait is None:
            interval = headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
            wait = POLICY_WAITS.get(policy) or (int(interval) / 1000 if interval and interval.isdigit() else 1.0)
        return Retriable(f"HubSpot is rate limiting Pipewise ({policy or 'rate limit'}); waiting {wait:g}s.",
                         status=status, code=policy or None, retry_after=wait)
    if status == 409:
        return Fatal(f"HubSpot reports a conflict: {message}", status=status, code="CONFLICT")
    if status == 404:
        return Skippable(f"HubSpot has no such resource: {message}", status=status, code=category)
    if status == 403 and category == MISSING_SCOPES:
        scopes = ", ".join(required_scopes(body)) or "a scope this call needs"
        return Fatal(f"HubSpot did not grant Pipewise {scopes}. An admin should re-authorize Pipewise in "
                     "HubSpot and allow every scope it asks for.", status=status, code=MISSING_SCOPES)
    if status == 403:
        return Fatal(f"HubSpot refused access ({message}). The app may lack a scope: an admin should "
                     "re-authorize Pipewise with the scopes it asks for.", status=status, code=category)
    return error_for_status(status, f"HubSpot answered {status}: {category or 'error'}: {message}",
                            code=category, retry_after=parse_retry_after(headers.get("Retry-After")))
