"""Opaque $skiptoken paging cookies and $deltatoken change-tracking tokens.

Skip tokens look like Dataverse's (page-results.md): `<cookie pagenumber="2" pagingcookie="..." istracking="False" />`
with the paging cookie URL-encoded inside it; clients must send them back unchanged. Delta tokens have the shape of
the documented example `919042!08/22/2017 08:10:44`: the row version the client has seen, then when it was
issued, which is what lets the environment refuse tokens older than Organization.ExpireChangeTrackingInDays.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, unquote

from .api import EXPIRED_VERSION_STAMP, INVALID_ARGUMENT, ApiError

COOKIE = re.compile(r'^<cookie pagenumber="(\d+)" pagingcookie="([^"]*)" istracking="(True|False)" />$')
INNER = re.compile(r'^<cookie page="(\d+)"(?: upto="(\d+)" after="(\d+):(\d+)")?><(\w+) last="\{([0-9A-F-]*)\}" '
                   r'first="\{([0-9A-F-]*)\}" /></cookie>$')
MAX_PAGE_SIZE = 5000  # page-results.md: the default and the largest page


@dataclass(frozen=True)
class Cookie:
    """What a $skiptoken says: the page to serve, the previous page's last key, and for a change-tracking
    read the row version it snapshots and the (phase, row version) of the last item served."""

    page: int
    last: str
    tracking: bool
    upto: int | None = None
    after: tuple[int, int] | None = None


def skip_token(page: int, pk: str, last: str, first: str, tracking: bool, upto: int | None = None,
               after: tuple[int, int] | None = None) -> str:
    """The $skiptoken for page+1 after a page whose primary keys ran from first to last."""
    snapshot = f' upto="{upto}" after="{after[0]}:{after[1]}"' if upto is not None and after else ""
    inner = f'<cookie page="{page}"{snapshot}><{pk} last="{{{last.upper()}}}" first="{{{first.upper()}}}" /></cookie>'
    encoded = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(inner, safe=""))
    return f'<cookie pagenumber="{page + 1}" pagingcookie="{encoded}" istracking="{tracking}" />'


def read_skip_token(token: str, pk: str) -> Cookie:
    """What a $skiptoken this environment issued says; ApiError for anything else."""
    match = COOKIE.match(token)
    inner = INNER.match(unquote(match.group(2))) if match else None
    if not match or not inner or inner.group(5) != pk:
        raise ApiError(400, INVALID_ARGUMENT, "The $skiptoken is not one this environment issued; use the "
                                              "@odata.nextLink exactly as it was returned.")
    snapshot = inner.group(2) is not None
    return Cookie(int(match.group(1)), inner.group(6).lower(), match.group(3) == "True",
                  int(inner.group(2)) if snapshot else None,
                  (int(inner.group(3)), int(inner.group(4))) if snapshot else None)


def delta_token(version: int, issued: datetime) -> str:
    return f"{version}!{issued.strftime('%m/%d/%Y %H:%M:%S')}"


def read_delta_token(token: str, now: datetime, expiry_days: float, force_expired: bool, newest: int) -> int:
    """The row version a $deltatoken stands for; ApiError when it is malformed or has expired."""
    version, _, issued = token.partition("!")
    try:
        seen, moment = int(version), datetime.strptime(issued, "%m/%d/%Y %H:%M:%S")
    except ValueError:
        raise ApiError(400, INVALID_ARGUMENT, "The $deltatoken is not one this environment issued; use the "
                                              "@odata.deltaLink exactly as it was returned.") from None
    if seen > newest:
        raise ApiError(400, INVALID_ARGUMENT, "The $deltatoken is newer than this environment's data.")
    if force_expired or (now - moment).total_seconds() > expiry_days * 86400:
        # The code the SDK's RetrieveEntityChanges callers catch (ExpiredVersionStamp, -2147204270) and its text.
        raise ApiError(400, EXPIRED_VERSION_STAMP,
                       "Version stamp associated with the client has expired. Please perform a full sync.")
    return seen


def page_size(preference: str | None) -> tuple[int, bool]:
    """(page size, applied): odata.maxpagesize up to 5,000; larger or malformed values are ignored."""
    if preference is None:
        return MAX_PAGE_SIZE, False
    try:
        size = int(preference)
    except ValueError:
        return MAX_PAGE_SIZE, False
    if size < 1 or size > MAX_PAGE_SIZE:
        return MAX_PAGE_SIZE, False
    return size, True
