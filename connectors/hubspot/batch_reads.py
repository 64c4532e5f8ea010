"""HubSpot's batch reads by id (records with their property histories, the ids associated with them), and
a page of records completed with them as its stream declares.

``POST /crm/v3/objects/{objectType}/batch/read`` answers the records named (live, or archived with
``archived=true``), with ``propertiesWithHistory`` when asked; ``POST /crm/v4/associations/{from}/{to}/batch/read``
answers each record's associated ids with their association types (labels, type ids). Both take at most
``BATCH_LIMIT`` inputs a call, as does a batch update.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.base import Stream
from connectors.hubspot.backfill import partial_links
from connectors.hubspot.mapping import is_primary_type
from connectors.hubspot.sdk import Call

BATCH_LIMIT = 100  # inputs per batch read, batch update and association read


def read_by_ids(call: Call, remote_name: str, ids: list[str], properties: list[str], history: list[str],
                archived: bool) -> list[dict[str, Any]]:
    """The records with these ids (chunks of 100), with the histories of ``history``; missing ones left out."""
    found = []
    for start in range(0, len(ids), BATCH_LIMIT):
        body = {"inputs": [{"id": i} for i in ids[start:start + BATCH_LIMIT]],
                "properties": properties, "propertiesWithHistory": history}
        answer = call("batch", lambda api, timeout: api.read(
            remote_name, body, archived=archived, _preload_content=False, _request_timeout=timeout))
        found.extend(answer.get("results") or [])
    return found


def read_associations(call: Call, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Associated ids per record (v4 batch read): {id, type, typeIds, primary} per associated record."""
    links: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(ids), BATCH_LIMIT):
        body = {"inputs": [{"id": i} for i in ids[start:start + BATCH_LIMIT]]}
        answer = call("associations", lambda api, timeout: api.get_page(
            from_type, to_type, body, _preload_content=False, _request_timeout=timeout))
        for result in answer.get("results") or []:
            source = str((result.get("from") or {}).get("id"))
            for target in result.get("to") or []:
                kinds = [k for k in target.get("associationTypes") or [] if isinstance(k, dict)]
                label = next((k["label"] for k in kinds if k.get("label")), None)
                first = kinds[0].get("typeId") if kinds else None
                links.setdefault(source, []).append({
                    "id": str(target.get("toObjectId")), "type": label or first,
                    "typeIds": [k.get("typeId") for k in kinds],
                    "primary": any(is_primary_type(from_type, to_type, k) for k in kinds)})
    return links


def complete(call: Call, stream: type[Stream], page: list[dict[str, Any]], archived: bool, properties: list[str],
             owner_ids_by_user: Callable[[], dict[str, str]], listed: bool = False) -> list[dict[str, Any]]:
    """Add the stream's property histories, owner ids and associations to a page of records.

    ``listed``: the page came from the list endpoint with its associations, so only the records whose
    links continue on a further page are read through the v4 API.
    """
    ids = [str(r["id"]) for r in page]
    if stream.history_properties and not all("propertiesWithHistory" in r for r in page):
        histories = {str(r["id"]): r.get("propertiesWithHistory") or {} for r in read_by_ids(
            call, stream.remote_name, ids, properties, list(stream.history_properties), archived)}
        page = [{**r, "propertiesWithHistory": histories.get(str(r["id"]), {})} for r in page]
    user_property = stream.user_property
    if user_property:
        owners = owner_ids_by_user()
        page = [{**r, "ownerId": owners.get(str((r.get("properties") or {}).get(user_property) or ""))}
                for r in page]
    for to_type in stream.associations:
        wanted = partial_links(page, to_type) if listed else ids
        links = read_associations(call, stream.remote_name, to_type, wanted) if wanted else {}
        reread = set(wanted)
        page = [{**r, "associations": {**(r.get("associations") or {}), to_type: {"results": (
            links.get(str(r["id"]), []) if str(r["id"]) in reread
            else ((r.get("associations") or {}).get(to_type) or {}).get("results") or [])}}} for r in page]
    return page
