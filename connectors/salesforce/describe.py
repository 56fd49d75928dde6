"""sObject describe: field types, updateability, picklist values and relationships, cached."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from simple_salesforce.api import Salesforce

from kam_sync.errors import FatalApiError
from kam_sync_connectors.base import FieldDescription, ObjectDescription
from kam_sync_connectors.salesforce import soql
from kam_sync_connectors.salesforce.client import SalesforceClient

# ``provision`` writes a Tooling API description naming kam-sync on every field it creates
# (provision.field_metadata); describe does not show descriptions, the Tooling API does.
PROVISIONED_MARK = "kam-sync"
# Reading Setup objects through the Tooling API (CustomField here) needs "View Setup and
# Configuration". Without it Salesforce answers as if the object did not exist, "INVALID_TYPE:
# sObject type '...' is not supported", not with a permission error: reported for Tooling
# queries of EntityParticle (tprouvot/Salesforce-Inspector-reloaded#1310, gone once the
# permission was granted) and of CustomField by a non-admin (afawcett/apex-toolingapi#19).
# A 403 is taken the same way.
TOOLING_REFUSED_CODES = frozenset({"INVALID_TYPE", "INSUFFICIENT_ACCESS", "API_DISABLED_FOR_ORG"})
TOOLING_REFUSED = (
    "salesforce: the integration user cannot read custom field descriptions through the Tooling "
    "API (it lacks 'View Setup and Configuration'), so kam-sync cannot tell which fields "
    "`kam-sync provision` created: grant the permission, or mark the write-back targets "
    "`owned_by_kam_sync: true` in the mapping"
)

log = logging.getLogger(__name__)


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


def _tooling_get(sf: Salesforce, *, action: str, params: dict[str, str] | None) -> Any:
    return sf.toolingexecute(action, params=params)


class DescribeCache:
    """One describe call per object per connector, unless invalidated (after provisioning)."""

    def __init__(self, client: SalesforceClient) -> None:
        self._client = client
        self._schemas: dict[str, SObjectSchema] = {}
        self._provisioned: dict[str, frozenset[str]] = {}
        self._tooling_refused = False

    def schema(self, object_name: str) -> SObjectSchema:
        if object_name not in self._schemas:
            if not object_name.replace("_", "").isalnum():
                raise FatalApiError(f"not an sObject name: {object_name!r}", connector="salesforce")
            body = self._client.json_call(
                f"describe {object_name}", "GET", f"sobjects/{object_name}/describe"
            )
            self._schemas[object_name] = parse_describe(body)
        return self._schemas[object_name]

    def with_provenance(self, object_name: str) -> ObjectDescription:
        """The object's describe with ``provisioned`` set on the custom fields kam-sync created:
        one Tooling API query per object, cached like the describe."""
        description = self.schema(object_name).description
        if not any(f.custom for f in description.fields.values()):
            return description
        if object_name not in self._provisioned:
            try:
                self._provisioned[object_name] = self._marked_fields(object_name)
            except FatalApiError as exc:
                refused = exc.status == 403 or exc.error_code in TOOLING_REFUSED_CODES
                if not refused:
                    raise
                if not self._tooling_refused:
                    log.warning("%s", TOOLING_REFUSED)
                self._tooling_refused = True
                self._provisioned[object_name] = frozenset()
        marked = self._provisioned[object_name]
        return ObjectDescription(
            description.name,
            {
                name: replace(f, provisioned=True) if f.custom and name in marked else f
                for name, f in description.fields.items()
            },
        )

    def _marked_fields(self, object_name: str) -> frozenset[str]:
        # Tooling API, CustomField (developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/
        # api_tooling/tooling_api_objects_customfield.htm): DeveloperName, NamespacePrefix and
        # Description are plain columns that can be queried for many rows at once (FullName and
        # Metadata only for one); TableEnumOrId is the object's name for standard objects.
        query_text = (
            "SELECT DeveloperName, NamespacePrefix, Description FROM CustomField "
            f"WHERE TableEnumOrId = {soql.literal(object_name)}"
        )
        marked: set[str] = set()
        action: str | None = "query/"
        params: dict[str, str] | None = {"q": query_text}
        while action is not None:
            body = self._client.call(
                f"read {object_name} custom field descriptions",
                partial(_tooling_get, action=action, params=params),
            )
            for record in body.get("records") or () if isinstance(body, dict) else ():
                if PROVISIONED_MARK in str(record.get("Description") or "").lower():
                    prefix = record.get("NamespacePrefix")
                    name = f"{record['DeveloperName']}__c"
                    marked.add(f"{prefix}__{name}" if prefix else name)
            next_url = body.get("nextRecordsUrl") if isinstance(body, dict) else None
            action = str(next_url).split("/tooling/", 1)[1] if next_url else None
            params = None
        return frozenset(marked)

    def invalidate(self, object_name: str | None = None) -> None:
        if object_name is None:
            self._schemas.clear()
            self._provisioned.clear()
        else:
            self._schemas.pop(object_name, None)
            self._provisioned.pop(object_name, None)
