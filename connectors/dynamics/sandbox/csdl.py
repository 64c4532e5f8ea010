"""$metadata: the CSDL service document, with the change-tracking annotation when annotations=true.

Source: webapi/web-service-documents.md (the CSDL $metadata document, namespace Microsoft.Dynamics.CRM, entity
types keyed by their primary key, lookups exposed as `_<column>_value` properties) and
use-change-tracking-synchronize-data-external-systems.md: entity sets of tables with change tracking enabled
carry <Annotation Term="Org.OData.Capabilities.V1.ChangeTracking"><Record><PropertyValue Property="Supported"
Bool="true" /></Record></Annotation> in `$metadata?annotations=true`.
"""
from __future__ import annotations

from xml.sax.saxutils import quoteattr

from flask import Response, request

from .api import sandbox
from .values import EDM

EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM_NS = "http://docs.oasis-open.org/odata/ns/edm"


def document() -> Response:
    box = sandbox()
    annotated = request.args.get("annotations", "").lower() == "true"
    types, sets = [], []
    for table in box.tables.values():
        properties = []
        for column in table.columns.values():
            if column.write_only:
                continue
            name = f"_{column.name}_value" if column.is_lookup else column.name
            kind = "Edm.Guid" if column.is_lookup else ("Edm.Date" if column.date_only else EDM[column.type])
            properties.append(f'<Property Name={quoteattr(name)} Type="{kind}" />')
        types.append(f'<EntityType Name="{table.logical}"><Key><PropertyRef Name="{table.pk}" /></Key>'
                     + "".join(properties) + "</EntityType>")
        tracking = ""
        if annotated and box.tracking_enabled(table.logical):
            tracking = ('<Annotation Term="Org.OData.Capabilities.V1.ChangeTracking"><Record>'
                        '<PropertyValue Property="Supported" Bool="true" /></Record></Annotation>')
        sets.append(f'<EntitySet Name="{table.entity_set}" EntityType="Microsoft.Dynamics.CRM.{table.logical}">'
                    f"{tracking}</EntitySet>")
    xml = (f'<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="4.0" xmlns:edmx="{EDMX}">'
           f'<edmx:DataServices><Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="{EDM_NS}">'
           + "".join(types) + '<EntityContainer Name="System">' + "".join(sets)
           + "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>")
    return Response(xml, content_type="application/xml", headers={"OData-Version": "4.0"})
