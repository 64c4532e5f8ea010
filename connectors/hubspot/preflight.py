"""HubSpot's preflight: what an admin checks in the first ten minutes, each problem as one sentence.

Granted scopes (token introspection) against the required and optional ones; read access to every
object Pipewise syncs, the optional goals included; the properties it reads and its own; the API
allowance HubSpot advertises; and, given the developer account's key, the app's webhook subscriptions.
"""
from __future__ import annotations

from typing import Any, Callable

from connectors.base import Stream
from connectors.client_protocol import Finding
from connectors.errors import ConnectorError, Fatal
from connectors.hubspot.failures import MISSING_SCOPES
from connectors.hubspot.provider import PROPERTY_GROUP, HubSpotProvider
from connectors.hubspot.tokens import introspect
from connectors.hubspot.webhooks import REQUIRED_SUBSCRIPTIONS, subscription_key

Call = Callable[[str, Callable[[Any], Any]], Any]  # (api name, fn(api)) → the JSON answer
LOW_ALLOWANCE = 0.1  # warn when less than this share of the burst window is left


def scope_findings(granted: set[str]) -> list[Finding]:
    """Required scopes missing are errors; optional ones missing are warnings saying what Pipewise skips."""
    findings = []
    missing = [s for s in HubSpotProvider.scopes if s not in granted]
    if missing:
        findings.append(Finding("scopes", "error", f"HubSpot did not grant Pipewise {', '.join(missing)}: "
                                "re-authorize Pipewise from its Connections screen and allow every scope it asks for."))
    for scope in HubSpotProvider.optional_scopes:
        if scope in granted:
            continue
        readers = [s for s in HubSpotProvider.streams if s.scope == scope]
        what = " and ".join(f"{s.remote_name.replace('_', ' ')} {s.unavailable_note}"
                            for s in readers) or "the features that need it are off"
        findings.append(Finding(f"scope:{scope}", "warning",
                                f"HubSpot did not grant the optional scope {scope} (this account's subscription may "
                                f"not include it), so {what}."))
    if not missing:
        findings.append(Finding("scopes", "ok", f"HubSpot granted every scope Pipewise needs "
                                f"({len(HubSpotProvider.scopes)} required)."))
    return findings


def object_finding(stream: type[Stream], read: Callable[[], Any]) -> Finding:
    """Whether one object can be read; an optional one that cannot is a warning, not a failure."""
    name = stream.remote_name.replace("_", " ")
    try:
        read()
    except Fatal as exc:
        if exc.code == MISSING_SCOPES and stream.optional:
            return Finding(f"object:{stream.remote_name}", "warning",
                           f"HubSpot does not let Pipewise read {name}, so they {stream.unavailable_note}.")
        return Finding(f"object:{stream.remote_name}", "error", f"Pipewise cannot read {name}: {exc}")
    except ConnectorError as exc:
        return Finding(f"object:{stream.remote_name}", "error", f"Pipewise could not read {name}: {exc}")
    return Finding(f"object:{stream.remote_name}", "ok", f"Pipewise can read {name}.")


def property_findings(remote_name: str, properties: list[dict[str, Any]], stream: type[Stream] | None,
                      writable: tuple[str, ...]) -> list[Finding]:
    """HubSpot's properties a stream reads that the portal lacks, and Pipewise's own properties."""
    names = {p.get("name") for p in properties}
    findings = []
    if stream is not None:
        wanted = [f for f in stream.fields if f not in stream.custom_fields]
        lacking = [f for f in wanted if f not in names]
        if lacking:
            findings.append(Finding(f"properties:{remote_name}", "warning",
                                    f"This portal's {remote_name} have no {', '.join(lacking)}: Pipewise leaves "
                                    "those fields empty; map other properties to them on the Field mapping page."))
    if writable:
        own = {p.get("name"): p for p in properties if p.get("name") in writable}
        lacking = [w for w in writable if w not in own]
        if lacking:
            findings.append(Finding(f"pipewise-properties:{remote_name}", "warning",
                                    f"Pipewise's properties {', '.join(lacking)} are not on {remote_name} yet; "
                                    "they are created in the Pipewise group with the first writeback."))
        elif any(p.get("groupName") != PROPERTY_GROUP for p in own.values()):
            findings.append(Finding(f"pipewise-properties:{remote_name}", "warning",
                                    f"Some Pipewise properties on {remote_name} are outside the Pipewise group; "
                                    "move them back to it in HubSpot's property settings."))
        else:
            findings.append(Finding(f"pipewise-properties:{remote_name}", "ok",
                                    f"Pipewise's properties are on {remote_name}."))
    return findings


def allowance_finding(headers: dict[str, str]) -> Finding:
    """The API allowance HubSpot advertised on the last answer."""
    limit, left = headers.get("X-HubSpot-RateLimit-Max"), headers.get("X-HubSpot-RateLimit-Remaining")
    interval = headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
    if not (limit and left and limit.isdigit() and left.isdigit()):
        return Finding("api-allowance", "warning", "HubSpot sent no rate-limit headers, so the API allowance is "
                       "unknown; Pipewise slows down when HubSpot answers 429.")
    seconds = int(interval) // 1000 if interval and interval.isdigit() else 10
    daily = headers.get("X-HubSpot-RateLimit-Daily-Remaining")
    tail = (f" and {daily} calls are left today" if daily else "; apps using OAuth have no daily limit")
    status = "warning" if int(left) < LOW_ALLOWANCE * int(limit) else "ok"
    advice = " Pipewise is using most of it now; syncs slow down until it frees up." if status == "warning" else ""
    return Finding("api-allowance", status, f"HubSpot allows Pipewise {limit} calls every {seconds} seconds in this "
                   f"account ({left} left in this window){tail}.{advice}")


def webhook_finding(subscriptions: list[dict[str, Any]] | None) -> Finding:
    """The app's webhook subscriptions against the ones Pipewise needs (None: they could not be read)."""
    if subscriptions is None:
        return Finding("webhooks", "warning", "Webhook subscriptions belong to the HubSpot app, not the portal, so "
                       "they cannot be read with the portal's token: check them in the app's Webhooks settings "
                       "against docs/hubspot, or set HUBSPOT_DEVELOPER_API_KEY so this check can read them.")
    active = {subscription_key(s.get("eventType"), s.get("objectTypeId"), s.get("propertyName"))
              for s in subscriptions if s.get("active")}
    missing = [key for key in REQUIRED_SUBSCRIPTIONS if key not in active]
    if missing:
        listed = ", ".join(" ".join(part for part in key if part) for key in missing)
        return Finding("webhooks", "warning", f"The app lacks active webhook subscriptions for {listed}: those "
                       "changes reach Pipewise only with the next scheduled sync; add them in the app's Webhooks "
                       "settings as docs/hubspot lists them.")
    return Finding("webhooks", "ok", f"The app has all {len(REQUIRED_SUBSCRIPTIONS)} webhook subscriptions "
                   "Pipewise needs, active.")


def run(client: Any) -> list[Finding]:
    """Every finding for one connection, through the client's retrying, refreshing calls."""
    findings: list[Finding] = []
    for stream in HubSpotProvider.streams:
        findings.append(object_finding(stream, lambda stream=stream: client.probe(stream)))
    try:
        info = introspect(client.oauth, client.token["access_token"])
        findings[:0] = scope_findings({str(s) for s in info.get("scopes") or []})
    except ConnectorError as exc:
        findings.insert(0, Finding("scopes", "error", f"{exc}"))
    writable = {remote: tuple(f.remote_name for f in HubSpotProvider.writable_fields)
                for remote in HubSpotProvider.writable_objects.values()}
    for stream in HubSpotProvider.streams:
        if not stream.incremental or stream.optional:
            continue
        try:
            properties = client.properties(stream.remote_name)
        except ConnectorError as exc:
            findings.append(Finding(f"properties:{stream.remote_name}", "error",
                                    f"Pipewise cannot read the {stream.remote_name} properties: {exc}"))
            continue
        findings += property_findings(stream.remote_name, properties, stream, writable.get(stream.remote_name, ()))
    findings.append(allowance_finding(client.last_headers))
    findings.append(webhook_finding(client.webhook_subscriptions()))
    return findings
