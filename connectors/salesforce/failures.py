"""Salesforce's error answers as typed connector errors, and what to tell an admin about an object it withholds.

Salesforce answers errors as a list of {errorCode, message} (REST API Developer Guide, Status Codes and
Error Responses); the OAuth endpoints as {error, error_description}. simple-salesforce drops a failed
answer's headers, so the client hands over the last raw response for Retry-After and Sforce-Limit-Info.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceError

from connectors.client_base import SessionExpired
from connectors.errors import Fatal, QuotaExceeded, Retriable, Skippable, Unavailable, error_for_status
from connectors.retry import parse_retry_after

QUOTA_PAUSE = timedelta(hours=1)  # the limit is a rolling 24 h window: look again in an hour
# Concurrent long-running requests are those of 20 s or more (API Request Limits and Allocations):
# waiting about that long lets some of them end.
CONCURRENCY_WAIT = 20.0
# Per-record answers that no retry will change (Salesforce Help 000384333: a converted lead is read-only).
PERMANENT_REJECTIONS = {"CANNOT_UPDATE_CONVERTED_LEAD", "ENTITY_IS_DELETED"}


class LocatorGone(Exception):
    """The next page's query locator is no longer valid (INVALID_QUERY_LOCATOR)."""


def errors_of(content: Any) -> tuple[str | None, str]:
    """The first errorCode and the messages of a Salesforce error body."""
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list) and content and isinstance(content[0], dict):
        code = content[0].get("errorCode") or content[0].get("error")
        messages = [str(e.get("message") or e.get("error_description") or "") for e in content]
        return code, "; ".join(m for m in messages if m)
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return None, str(content or "")[:500]


def _daily_limit_spent(message: str, limit_info: str | None) -> bool:
    """Whether a REQUEST_LIMIT_EXCEEDED is the 24-hour allowance (not too many concurrent long requests)."""
    if "TotalRequests" in message:
        return True
    used, _, total = (limit_info or "").partition("api-usage=")[2].partition("/")
    try:
        return int(used) >= int(total.split(",")[0])
    except ValueError:
        return False


def translate(exc: SalesforceError, last_response: requests.Response | None) -> Exception:
    """The typed error for a failed call; ``last_response`` is the raw answer simple-salesforce read last."""
    code, message = errors_of(exc.content)
    status = exc.status
    where = exc.resource_name or "a request"
    answered = last_response if last_response is not None and last_response.status_code == status else None
    if status == 401 and code in ("INVALID_SESSION_ID", None):
        return SessionExpired(message)
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        limit_info = answered.headers.get("Sforce-Limit-Info") if answered is not None else None
        if not _daily_limit_spent(message, limit_info):
            return Retriable(f"Salesforce is busy with too many long-running requests for this org "
                             f"({message}). Pipewise waits and tries again.", status=status, code=code,
                             retry_after=CONCURRENCY_WAIT)
        resume_at = datetime.now(timezone.utc).replace(tzinfo=None) + QUOTA_PAUSE
        return QuotaExceeded(
            f"Salesforce's daily API limit for this org is used up ({message}). Pipewise "
            "pauses this connection and tries again in an hour.",
            status=status, code=code, resume_at=resume_at)
    if code == "INVALID_QUERY_LOCATOR":
        return LocatorGone(message)
    if status == 400 and code == "INVALID_TYPE":
        return Unavailable(f"Salesforce does not offer this object to Pipewise ({message})",
                           status=status, code=code)
    if status == 400:
        return Fatal(f"Salesforce rejected {where}: {code or 'error'}: {message}",
                     status=status, code=code)
    if status == 404:
        return Skippable(f"Salesforce has no such resource ({where}): {message}",
                         status=status, code=code)
    retry_after = parse_retry_after(answered.headers.get("Retry-After")) if answered is not None else None
    return error_for_status(status, f"Salesforce answered {status} to {where}: "
                            f"{code or 'error'}: {message}", code=code, retry_after=retry_after)


def unavailable_sentence(remote_name: str) -> str:
    """What to do when the org does not offer an object to Pipewise."""
    if remote_name == "ForecastingQuota":
        return ("Salesforce quotas (ForecastingQuota) are not available to Pipewise: this org has no "
                "Collaborative Forecasts, or the integration user lacks forecasting access. To use them, turn "
                "on Forecasts in Setup and give the integration user the Allow Forecasting permission; until "
                "then an admin can set quotas in Pipewise's team panel.")
    if remote_name == "CurrencyType":
        return ("This org uses one currency (it has no CurrencyType), so Pipewise takes amounts as they are. "
                "If the org has multiple currencies, give the integration user read access to CurrencyType.")
    if remote_name == "DatedConversionRate":
        return ("This org has no dated exchange rates (advanced currency management is off), so Pipewise "
                "converts amounts with each currency's current rate.")
    return (f"Salesforce does not offer {remote_name} to Pipewise: the org lacks it, or the integration user "
            f"has no read access. Give the user read access to {remote_name} (a permission set), then sync again.")
