"""Salesforce schema: fields, objects, child relationships, and their describe output.

Field types and attributes follow the REST API's `sobjects/{Object}/describe` (DescribeField
result). The objects the sandbox's org has are defined in `standard_objects`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kam_sync.sandbox.salesforce.ids import KEY_PREFIXES

# DescribeField type -> SOAP type, as describe reports it.
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "picklist": "xsd:string",
    "multipicklist": "xsd:string",
    "email": "xsd:string",
    "url": "xsd:string",
    "phone": "xsd:string",
    "boolean": "xsd:boolean",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
TEXT_TYPES = frozenset({"string", "textarea", "email", "url", "phone", "picklist", "multipicklist"})
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field as describe shows it, plus what the sandbox needs to validate writes."""

    name: str
    label: str
    type: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    digits: int = 0
    updateable: bool = True
    createable: bool = True
    nillable: bool = True
    custom: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    calculated: bool = False
    name_field: bool = False
    default_value: Any = None
    # Labels of the (active) picklist values, same order; empty: each value is its own label.
    picklist_labels: tuple[str, ...] = ()
    inline_help_text: str | None = None

    def __post_init__(self) -> None:
        # A data file (`--data`, `--state-dir`) gives lists back; the field stays hashable.
        object.__setattr__(self, "picklist_labels", tuple(self.picklist_labels))

    def describe(self) -> dict[str, Any]:
        """The DescribeField JSON of this field."""
        labels = (
            self.picklist_labels
            if len(self.picklist_labels) == len(self.picklist)
            else self.picklist
        )
        picklist_values = [
            {
                "active": True,
                "defaultValue": False,
                "label": label,
                "validFor": None,
                "value": value,
            }
            for value, label in zip(self.picklist, labels, strict=True)
        ]
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "soapType": SOAP_TYPES[self.type],
            "length": self.length,
            "byteLength": self.length * 3,
            "precision": self.precision,
            "scale": self.scale,
            "digits": self.digits,
            "updateable": self.updateable,
            "createable": self.createable,
            "nillable": self.nillable,
            "custom": self.custom,
            "calculated": self.calculated,
            "filterable": self.type != "textarea" or self.length <= 255,
            "sortable": self.type not in ("textarea", "multipicklist"),
            "groupable": self.type not in ("textarea", "multipicklist", "double", "currency"),
            "nameField": self.name_field,
            "idLookup": self.type == "id",
            "unique": False,
            "externalId": False,
            "autoNumber": False,
            "defaultedOnCreate": self.type in {"boolean", "id"},
            "defaultValue": self.default_value,
            "picklistValues": picklist_values,
            "restrictedPicklist": self.restricted,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "extraTypeInfo": "plaintextarea" if self.type == "textarea" else None,
            "htmlFormatted": False,
            "inlineHelpText": self.inline_help_text,
        }


@dataclass(frozen=True, slots=True)
class ChildRelationship:
    """A parent-to-child relationship (`Account.AccountTeamMembers`)."""

    name: str
    child_object: str
    field: str  # the child's reference field to the parent


# Salesforce's names of the standard child relationships the sandbox's objects have.
CHILD_RELATIONSHIP_NAMES = {
    ("Opportunity", "AccountId"): "Opportunities",
    ("Contact", "AccountId"): "Contacts",
    ("AccountTeamMember", "AccountId"): "AccountTeamMembers",
    ("Account", "ParentId"): "ChildAccounts",
    ("FieldPermissions", "ParentId"): "FieldPerms",
    ("PermissionSetAssignment", "PermissionSetId"): "Assignments",
    ("PermissionSetAssignment", "AssigneeId"): "PermissionSetAssignments",
}


@dataclass(slots=True)
class ObjectSchema:
    """One sObject: its fields by lower-cased name and its relationships."""

    name: str
    label: str
    label_plural: str
    fields: dict[str, FieldDef] = field(default_factory=dict)  # lower-case name -> field
    custom_setting: bool = False
    version: int = 0  # bumped when fields change, so cached describes are invalidated

    def add(self, field_def: FieldDef) -> None:
        """Add or replace a field."""
        self.fields[field_def.name.lower()] = field_def
        self.version += 1

    def get(self, name: str) -> FieldDef | None:
        """A field by name, case-insensitively (SOQL and the REST API are)."""
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship name is `name` (`Owner` -> OwnerId)."""
        lowered = name.lower()
        for field_def in self.fields.values():
            if field_def.relationship_name and field_def.relationship_name.lower() == lowered:
                return field_def
        return None

    def describe(
        self, base_path: str, children: Sequence[ChildRelationship] = ()
    ) -> dict[str, Any]:
        """The `sobjects/{Object}/describe` JSON."""
        sobject_url = f"{base_path}sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "keyPrefix": KEY_PREFIXES.get(self.name),
            "custom": self.name.endswith("__c"),
            "createable": True,
            "updateable": True,
            "deletable": True,
            "queryable": True,
            "retrieveable": True,
            "searchable": True,
            "layoutable": True,
            "replicateable": True,
            "triggerable": True,
            "undeletable": True,
            "mergeable": self.name in ("Account", "Contact"),
            "activateable": False,
            "childRelationships": [
                {
                    "cascadeDelete": False,
                    "childSObject": child.child_object,
                    "deprecatedAndHidden": False,
                    "field": child.field,
                    "junctionIdListNames": [],
                    "junctionReferenceTo": [],
                    "relationshipName": child.name,
                    "restrictedDelete": False,
                }
                for child in children
            ],
            "recordTypeInfos": [],
            "supportedScopes": [{"label": "All", "name": "everything"}],
            "fields": [f.describe() for f in self.fields.values()],
            "urls": {
                "sobject": sobject_url,
                "describe": f"{sobject_url}/describe",
                "rowTemplate": f"{sobject_url}/{{ID}}",
            },
        }

    def global_entry(self, base_path: str) -> dict[str, Any]:
        """This object's entry in the global `sobjects` describe."""
        sobject_url = f"{base_path}sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "keyPrefix": KEY_PREFIXES.get(self.name),
            "custom": self.name.endswith("__c"),
            "queryable": True,
            "createable": True,
            "updateable": True,
            "urls": {"sobject": sobject_url, "describe": f"{sobject_url}/describe"},
        }


class SchemaRegistry:
    """The org's objects (data API) and Tooling API objects; thread-safe for field adds."""

    def __init__(self, objects: Iterable[ObjectSchema], tooling: Iterable[ObjectSchema]) -> None:
        self._lock = threading.Lock()
        self.objects: dict[str, ObjectSchema] = {o.name.lower(): o for o in objects}
        self.tooling: dict[str, ObjectSchema] = {o.name.lower(): o for o in tooling}

    def get(self, name: str, *, tooling: bool = False) -> ObjectSchema | None:
        """An object by name, case-insensitively."""
        return (self.tooling if tooling else self.objects).get(name.lower())

    def add_field(self, sobject: str, field_def: FieldDef) -> None:
        """Add a (custom) field to an object, as the Tooling API does."""
        with self._lock:
            self.objects[sobject.lower()].add(field_def)

    def remove_fields(self, sobject: str, names: Iterable[str]) -> None:
        """Take fields off an object (an org that never had them)."""
        with self._lock:
            schema = self.objects[sobject.lower()]
            for name in names:
                schema.fields.pop(name.lower(), None)
            schema.version += 1

    def child_relationships(self, parent: str) -> list[ChildRelationship]:
        """The named child relationships of an object."""
        found = []
        for (child, field_name), name in CHILD_RELATIONSHIP_NAMES.items():
            child_schema = self.objects.get(child.lower())
            field_def = child_schema.get(field_name) if child_schema is not None else None
            if field_def is not None and parent in field_def.reference_to:
                found.append(ChildRelationship(name, child, field_name))
        return found

    def names(self) -> Sequence[str]:
        """The data objects' names."""
        return [schema.name for schema in self.objects.values()]
