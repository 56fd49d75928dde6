"""sObject describe: field types, updateability, picklist values and relationships, cached."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kam_sync.errors import FatalApiError
from kam_sync_connectors.base import FieldDescription, ObjectDescription
from kam_sync_connectors.salesforce.client import SalesforceClient


@dataclass(frozen=True, slots=True)
class SObjectSchema:
    """What the connector needs from one describe: the fields and how objects relate."""

    description: ObjectDescription
    # relationshipName -> referenced object names (``Owner`` -> ``("User",)``)
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # child object name -> relationshipName (``AccountTeamMember`` -> ``AccountTeamMembers``)
    children: dict[str, str] = field(default_factory=dict)
    # child object name -> the child's field that references this object (``AccountId``)
    child_fields: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.description.name

    def field(self, name: str) -> FieldDescription | None:
        return self.description.fields.get(name)


def _field(raw: dict[str, Any]) -> FieldDescription:
    values = tuple(
        str(p["value"])
        for p in raw.get("picklistValues") or ()
        if isinstance(p, dict) and p.get("active", True) and p.get("value") is not None
    )
    return FieldDescription(
        name=str(raw["name"]),
        label=str(raw.get("label") or raw["name"]),
        type=str(raw.get("type", "string")),
        updateable=bool(raw.get("updateable", False)),
        nillable=bool(raw.get("nillable", True)),
        custom=bool(raw.get("custom", False)),
        length=raw.get("length") or None,
        precision=raw.get("precision") or None,
        scale=raw.get("scale") if raw.get("precision") else None,
        picklist_values=values,
    )


def parse_describe(body: Any) -> SObjectSchema:
    """An SObjectSchema from the JSON of ``GET sobjects/<name>/describe``."""
    fields = {str(f["name"]): _field(f) for f in body.get("fields", [])}
    parents = {
        str(f["relationshipName"]): tuple(str(r) for r in f.get("referenceTo") or ())
        for f in body.get("fields", [])
        if f.get("relationshipName")
    }
    children: dict[str, str] = {}
    child_fields: dict[str, str] = {}
    for rel in body.get("childRelationships", []) or ():
        child, name = rel.get("childSObject"), rel.get("relationshipName")
        if child and name and str(child) not in children:
            children[str(child)] = str(name)
            if rel.get("field"):
                child_fields[str(child)] = str(rel["field"])
    return SObjectSchema(
        ObjectDescription(str(body["name"]), fields), parents, children, child_fields
    )


class DescribeCache:
    """One describe call per object per connector, unless invalidated (after provisioning)."""

    def __init__(self, client: SalesforceClient) -> None:
        self._client = client
        self._schemas: dict[str, SObjectSchema] = {}

    def schema(self, object_name: str) -> SObjectSchema:
        if object_name not in self._schemas:
            if not object_name.replace("_", "").isalnum():
                raise FatalApiError(f"not an sObject name: {object_name!r}", connector="salesforce")
            body = self._client.json_call(
                f"describe {object_name}", "GET", f"sobjects/{object_name}/describe"
            )
            self._schemas[object_name] = parse_describe(body)
        return self._schemas[object_name]

    def invalidate(self, object_name: str | None = None) -> None:
        if object_name is None:
            self._schemas.clear()
        else:
            self._schemas.pop(object_name, None)
