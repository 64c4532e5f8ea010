"""Account Information API v3: the portal's details, read-only.

Shape from PortalInformationResponse in HubSpot's Account Info v3 description (PublicApiSpecs/Account/
Account Info/Rollouts/144923/v3/accountInfo.json): every field is required (portalId, accountType,
timeZone, companyCurrency, additionalCurrencies, dataHostingLocation, uiDomain, utcOffset,
utcOffsetMilliseconds). The ``oauth`` scope is enforced by the API gate (scopes.py).
"""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import jsonify, request

from .api import api_blueprint, sandbox
from .currencies import portal_currencies

bp = api_blueprint("hubspot_account_info", "/account-info/v3")


def _offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@bp.get("/details")
def details():
    """The portal's type, time zone with its current UTC offset, currencies, hosting and UI domain."""
    box = sandbox()
    found = portal_currencies(box.store)
    now = box.clock.now().replace(tzinfo=ZoneInfo("UTC"))
    offset = now.astimezone(ZoneInfo(box.settings.time_zone)).utcoffset()
    minutes = int(offset.total_seconds() // 60)
    return jsonify({
        "portalId": box.portal_id, "accountType": "STANDARD", "timeZone": box.settings.time_zone,
        "companyCurrency": found["company"], "additionalCurrencies": sorted(found["rates"]),
        "dataHostingLocation": "na1", "uiDomain": request.host,
        "utcOffset": _offset(minutes), "utcOffsetMilliseconds": minutes * 60_000,
    })
