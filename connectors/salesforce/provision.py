"""Provisioning: the write-back fields through the Tooling API, and a permission set for them.

Idempotent. Existing fields are found through the Tooling API (``CustomField`` by
``TableEnumOrId`` and ``DeveloperName``), not describe: a field the integration user has no
field-level security for is missing from its describe, and creating it again fails
``DUPLICATE_DEVELOPER_NAME`` (Tooling API, "CustomField"; Salesforce Help, "Field-Level
Security"). An existing field is judged on its Metadata (``GET tooling/sobjects/CustomField/<id>``):
one of the wrong type (or too short) is reported as a problem for a person to solve; a picklist
missing values gets them added, compared as Salesforce compares value names, case-insensitively
(``Action plan`` already is ``Action Plan``); a description without the kam-sync mark gets it
(fields made by kam-sync before the mark existed), all in one ``PATCH`` with the full Metadata,
as the Tooling API replaces Metadata as a whole. Fields are created with
``POST tooling/sobjects/CustomField`` and ``{"FullName": "Account.X__c", "Metadata": {...}}``.
The permission set (``settings.permission_set_name``) gets read and edit ``FieldPermissions``
on every write-back field that is usable, created now or found, and is assigned to the
integration user.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from simple_salesforce.api import Salesforce

from kam_sync.errors import ApiError
from kam_sync_connectors.base import CustomFieldSpec, FieldDescription, ProvisionReport
from kam_sync_connectors.salesforce import soql
from kam_sync_connectors.salesforce.client import SalesforceClient
from kam_sync_connectors.salesforce.describe import PROVISIONED_MARK, DescribeCache

# kam-sync type -> (Metadata API type, describe types that count as the same field type)
FIELD_TYPES: dict[str, tuple[str, frozenset[str]]] = {
    "picklist": ("Picklist", frozenset({"picklist"})),
    "multipicklist": ("MultiselectPicklist", frozenset({"multipicklist"})),
    "number": ("Number", frozenset({"double", "int", "long"})),
    "percent": ("Percent", frozenset({"percent"})),
    "text": ("Text", frozenset({"string"})),
    "longtext": ("LongTextArea", frozenset({"textarea"})),
    "date": ("Date", frozenset({"date"})),
    "datetime": ("DateTime", frozenset({"datetime"})),
    "checkbox": ("Checkbox", frozenset({"boolean"})),
}
LONG_TEXT_DEFAULT_LENGTH = 32768
TEXT_DEFAULT_LENGTH = 255


def field_metadata(spec: CustomFieldSpec) -> dict[str, Any]:
    """The Tooling API CustomField Metadata for a spec."""
    api_type, _ = FIELD_TYPES[spec.type]
    meta: dict[str, Any] = {"label": spec.label[:40], "type": api_type}
    # The description names kam-sync, which is how describe tells kam-sync's fields apart
    # (describe.PROVISIONED_MARK); Metadata descriptions hold up to 1,000 characters.
    description = spec.description[:980]
    if PROVISIONED_MARK not in description.lower():
        description = f"{description} ({PROVISIONED_MARK})".strip()
    meta["description"] = description
    if spec.type in ("picklist", "multipicklist"):
        labels = spec.labels if len(spec.labels) == len(spec.values) else spec.values
        meta["valueSet"] = {
            "restricted": True,
            "valueSetDefinition": {
                "sorted": False,
                "value": [
                    {"fullName": v, "label": lbl, "default": False}
                    for v, lbl in zip(spec.values, labels, strict=True)
                ],
            },
        }
        if spec.type == "multipicklist":
            meta["visibleLines"] = 4
    elif spec.type in ("number", "percent"):
        meta["precision"] = spec.precision or 18
        meta["scale"] = spec.scale or 0
    elif spec.type == "text":
        meta["length"] = spec.length or TEXT_DEFAULT_LENGTH
    elif spec.type == "longtext":
        meta["length"] = spec.length or LONG_TEXT_DEFAULT_LENGTH
        meta["visibleLines"] = 3
    elif spec.type == "checkbox":
        meta["defaultValue"] = "false"
    return meta


def _tooling_get(sf: Salesforce, *, action: str, params: dict[str, str] | None) -> Any:
    return sf.toolingexecute(action, params=params)


def _developer_name(field_name: str) -> str:
    return field_name[: -len("__c")] if field_name.endswith("__c") else field_name


# Metadata API field type -> the describe type it shows as (for ``Provisioner.mismatch``).
DESCRIBE_TYPES = {
    "Picklist": "picklist",
    "MultiselectPicklist": "multipicklist",
    "Number": "double",
    "Percent": "percent",
    "Currency": "currency",
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Html": "textarea",
    "Date": "date",
    "DateTime": "datetime",
    "Checkbox": "boolean",
}


def _picklist_names(metadata: dict[str, Any]) -> list[str]:
    value_set = metadata.get("valueSet") or {}
    definition = value_set.get("valueSetDefinition") or {}
    return [str(v.get("fullName")) for v in definition.get("value") or () if v.get("fullName")]


def description_from_metadata(name: str, metadata: dict[str, Any]) -> FieldDescription:
    """What an existing field is, from its Tooling API Metadata (visible whatever its FLS)."""
    api_type = str(metadata.get("type") or "")
    # A formula field, or a value set from a global set, cannot take kam-sync's writes.
    updateable = not metadata.get("formula") and not metadata.get("summaryOperation")
    return FieldDescription(
        name=name,
        label=str(metadata.get("label") or name),
        type=DESCRIBE_TYPES.get(api_type, api_type.lower()),
        updateable=updateable,
        nillable=True,
        custom=True,
        length=metadata.get("length") or None,
        precision=metadata.get("precision") or None,
        scale=metadata.get("scale") if metadata.get("precision") else None,
        picklist_values=tuple(_picklist_names(metadata)),
    )


def missing_picklist_values(spec: CustomFieldSpec, existing: Sequence[str]) -> list[str]:
    """The spec's values the field lacks, compared case-insensitively as Salesforce does."""
    have = {v.casefold() for v in existing}
    return [v for v in spec.values if v.casefold() not in have]


def with_mark(description: str | None) -> str | None:
    """``description`` with the kam-sync mark appended, or None when it has it already."""
    text = (description or "").strip()
    if PROVISIONED_MARK in text.lower():
        return None
    return f"{text[:980]} ({PROVISIONED_MARK})".strip()


class Provisioner:
    """Creates or checks custom fields and the integration permission set."""

    def __init__(self, client: SalesforceClient, describe: DescribeCache) -> None:
        self._client = client
        self._describe = describe

    def provision(self, specs: Sequence[CustomFieldSpec]) -> ProvisionReport:
        report = ProvisionReport()
        ready: list[CustomFieldSpec] = []
        existing_ids: dict[str, dict[str, str]] = {}
        for spec in specs:
            full_name = f"{spec.object_name}.{spec.name}"
            try:
                soql.check_name(spec.object_name, "object")
                soql.check_name(spec.name, full_name)
                if not spec.name.endswith("__c"):
                    report.problems.append(f"{full_name}: custom field names end with __c")
                    continue
                if spec.object_name not in existing_ids:
                    existing_ids[spec.object_name] = self._custom_field_ids(spec.object_name)
                field_id = existing_ids[spec.object_name].get(_developer_name(spec.name).lower())
                if field_id is None:
                    self._client.json_call(
                        f"create field {full_name}",
                        "POST",
                        "tooling/sobjects/CustomField",
                        {"FullName": full_name, "Metadata": field_metadata(spec)},
                    )
                    report.created.append(full_name)
                    ready.append(spec)
                    continue
                outcome = self._adopt(spec, field_id)
                if outcome.startswith("problem: "):
                    report.problems.append(f"{full_name}: {outcome[len('problem: ') :]}")
                    continue
                (report.updated if outcome == "updated" else report.unchanged).append(full_name)
                ready.append(spec)
            except ApiError as exc:
                report.problems.append(f"{full_name}: {exc}")
        if ready:
            try:
                self._grant_edit_access(ready)
            except ApiError as exc:
                report.problems.append(
                    f"permission set {self._client.settings.permission_set_name}: {exc}"
                )
        for object_name in {s.object_name for s in specs}:
            self._describe.invalidate(object_name)
        return report

    @staticmethod
    def mismatch(spec: CustomFieldSpec, existing: FieldDescription) -> str | None:
        """Why an existing field cannot serve as this spec, or None."""
        _, accepted = FIELD_TYPES[spec.type]
        if existing.type not in accepted:
            return (
                f"exists as type {existing.type}, kam-sync needs {spec.type}; change or delete "
                "the field, or map another one"
            )
        if spec.type in ("text", "longtext"):
            wanted = spec.length or (
                TEXT_DEFAULT_LENGTH if spec.type == "text" else LONG_TEXT_DEFAULT_LENGTH
            )
            if existing.length is not None and existing.length < wanted:
                return f"holds {existing.length} characters, kam-sync needs {wanted}"
        if spec.type in ("number", "percent") and spec.precision and existing.precision:
            int_digits_needed = spec.precision - (spec.scale or 0)
            int_digits_have = existing.precision - (existing.scale or 0)
            if int_digits_have < int_digits_needed or (existing.scale or 0) < (spec.scale or 0):
                return (
                    f"is number({existing.precision},{existing.scale or 0}), kam-sync needs "
                    f"number({spec.precision},{spec.scale or 0})"
                )
        if not existing.updateable:
            return "exists but is not updateable (a formula or read-only field?)"
        return None

    def _custom_field_ids(self, object_name: str) -> dict[str, str]:
        """The object's custom fields in this org's namespace, lower-case DeveloperName -> Id.

        Developer names are unique case-insensitively; fields of managed packages (with a
        NamespacePrefix) are other fields even when their DeveloperName is the same.
        """
        query_text = (
            "SELECT Id, DeveloperName, NamespacePrefix FROM CustomField WHERE TableEnumOrId = "
            f"{soql.literal(object_name)}"
        )
        found: dict[str, str] = {}
        action: str | None = "query/"
        params: dict[str, str] | None = {"q": query_text}
        while action is not None:
            body = self._client.call(
                f"find {object_name} custom fields",
                partial(_tooling_get, action=action, params=params),
            )
            for record in body.get("records") or () if isinstance(body, dict) else ():
                if not record.get("NamespacePrefix"):
                    found[str(record["DeveloperName"]).lower()] = str(record["Id"])
            next_url = body.get("nextRecordsUrl") if isinstance(body, dict) else None
            action = str(next_url).split("/tooling/", 1)[1] if next_url else None
            params = None
        return found

    def _adopt(self, spec: CustomFieldSpec, field_id: str) -> str:
        """Check an existing field against the spec and bring it up to date: ``unchanged``,
        ``updated``, or ``problem: <why>``."""
        path = f"tooling/sobjects/CustomField/{field_id}"
        current = self._client.json_call(f"read field {spec.name}", "GET", path)
        metadata = dict(current.get("Metadata") or {}) if isinstance(current, dict) else {}
        problem = self.mismatch(spec, description_from_metadata(spec.name, metadata))
        if problem:
            return f"problem: {problem}"
        changed = False
        if spec.type in ("picklist", "multipicklist"):
            missing = missing_picklist_values(spec, _picklist_names(metadata))
            if missing:
                value_set = dict(metadata.get("valueSet") or {})
                definition = dict(value_set.get("valueSetDefinition") or {})
                labels = dict(zip(spec.values, spec.labels or spec.values, strict=False))
                definition["value"] = [
                    *(definition.get("value") or []),
                    *(
                        {"fullName": v, "label": labels.get(v, v), "default": False}
                        for v in missing
                    ),
                ]
                value_set["valueSetDefinition"] = definition
                metadata["valueSet"] = value_set
                changed = True
        description = with_mark(
            metadata.get("description") if "description" in metadata else current.get("Description")
        )
        if description is not None:
            metadata["description"] = description
            changed = True
        if changed:
            self._client.json_call(
                f"update field {spec.name}", "PATCH", path, {"Metadata": metadata}
            )
            return "updated"
        return "unchanged"

    # -- permission set ------------------------------------------------------------------------

    def _query(self, what: str, query_text: str) -> list[dict[str, Any]]:
        result = self._client.call(what, lambda sf: sf.query(query_text))
        return list(result.get("records") or ())

    def _grant_edit_access(self, specs: Sequence[CustomFieldSpec]) -> None:
        settings = self._client.settings
        name = settings.permission_set_name
        found = self._query(
            "find permission set", f"SELECT Id FROM PermissionSet WHERE Name = {soql.literal(name)}"
        )
        if found:
            permission_set_id = str(found[0]["Id"])
        else:
            created = self._client.json_call(
                "create permission set",
                "POST",
                "sobjects/PermissionSet",
                {"Name": name, "Label": settings.permission_set_label},
            )
            permission_set_id = str(created["id"])
        existing = {
            str(r["Field"]): r
            for r in self._query(
                "read field permissions",
                "SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions "
                f"WHERE ParentId = {soql.id_literal(permission_set_id)}",
            )
        }
        # One request per field permission: provisioning runs rarely and touches a handful of
        # fields, and single-record calls work the same on every org and API version.
        for spec in specs:
            full_name = f"{spec.object_name}.{spec.name}"
            row = existing.get(full_name)
            if row is None:
                self._client.json_call(
                    f"grant {full_name}",
                    "POST",
                    "sobjects/FieldPermissions",
                    {
                        "ParentId": permission_set_id,
                        "SobjectType": spec.object_name,
                        "Field": full_name,
                        "PermissionsRead": True,
                        "PermissionsEdit": True,
                    },
                )
            elif not (row.get("PermissionsRead") and row.get("PermissionsEdit")):
                self._client.json_call(
                    f"grant {full_name}",
                    "PATCH",
                    f"sobjects/FieldPermissions/{row['Id']}",
                    {"PermissionsRead": True, "PermissionsEdit": True},
                )
        self._assign(permission_set_id)

    def _assign(self, permission_set_id: str) -> None:
        user_id = self._client.grant.user_id
        if user_id is None:
            info = self._client.call(
                "who am I",
                lambda sf: sf.oauth2("userinfo"),
            )
            user_id = str(info.get("user_id")) if isinstance(info, dict) else None
        if not user_id:
            raise ApiError("cannot tell which user to assign the permission set to")
        assigned = self._query(
            "find permission set assignment",
            "SELECT Id FROM PermissionSetAssignment WHERE PermissionSetId = "
            f"{soql.id_literal(permission_set_id)} AND AssigneeId = {soql.id_literal(user_id)}",
        )
        if not assigned:
            self._client.json_call(
                "assign permission set",
                "POST",
                "sobjects/PermissionSetAssignment",
                {"PermissionSetId": permission_set_id, "AssigneeId": user_id},
            )
