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
on every write-back field that is usable, created now or found, read on every KAM input field
(a field created through the Tooling API is granted to no one, so without it the integration
user could not read what people fill in), and is assigned to the integration user.

Inputs (``spec.access == "read"``) are fields people fill in. One that exists is never
changed in type: an org's own field of another type is kept (whether it can feed the input is
what `kam-sync validate` checks). Checklist multi-selects (``spec.exact_values``) follow the
rule pack: values get the question text as label (shortened to
``settings.picklist_label_max_length``, 255 characters at most, Salesforce Help "Picklist
Limitations") and the whole text as the value's description; a reworded question is relabelled,
a removed one made inactive (``isActive: false``: records keep it, nobody can pick it; Metadata
API "CustomValue"), and a value set may hold ``settings.picklist_max_values`` values, active and
inactive (1,000 in a restricted picklist, same page).

A second permission set (``settings.users_permission_set_name``) is for sales users: read on
every KAM field, edit on the inputs. kam-sync does not assign it, nor edit page layouts: Layout
metadata is deployed whole through the asynchronous Metadata API, per layout and record type,
and Lightning record pages may override it, so a deploy could undo an admin's own changes.
Provisioning prints those steps for an admin instead (``ProvisionReport.admin_steps``).
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


# Salesforce Help, "Custom Field Attributes": help text holds up to 510 characters.
HELP_TEXT_MAX_LENGTH = 510
PICKLIST_LABEL_MAX_LENGTH = 255  # Salesforce Help, "Picklist Limitations"
PICKLIST_MAX_VALUES = 1000  # active and inactive, restricted picklist (same page)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a word, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "\u2026"


def picklist_entries(spec: CustomFieldSpec, label_limit: int) -> list[dict[str, Any]]:
    """The Metadata value entries a spec wants, in its order."""
    labels = spec.labels if len(spec.labels) == len(spec.values) else spec.values
    descriptions = (
        spec.value_descriptions
        if len(spec.value_descriptions) == len(spec.values)
        else ("",) * len(spec.values)
    )
    entries = []
    for value, label, text in zip(spec.values, labels, descriptions, strict=True):
        entry: dict[str, Any] = {
            "fullName": value,
            "label": shorten(label, label_limit),
            "default": False,
        }
        if text:
            entry["description"] = text
        entries.append(entry)
    return entries


def field_metadata(
    spec: CustomFieldSpec, label_limit: int = PICKLIST_LABEL_MAX_LENGTH
) -> dict[str, Any]:
    """The Tooling API CustomField Metadata for a spec."""
    api_type, _ = FIELD_TYPES[spec.type]
    meta: dict[str, Any] = {"label": spec.label[:40], "type": api_type}
    # An output's description names kam-sync, which is how describe tells kam-sync's fields
    # apart (describe.PROVISIONED_MARK); Metadata descriptions hold up to 1,000 characters.
    # Inputs are people's fields: they do not get the mark.
    description = spec.description[:980]
    if spec.access == "edit" and PROVISIONED_MARK not in description.lower():
        description = f"{description} ({PROVISIONED_MARK})".strip()
    meta["description"] = description
    if spec.help_text:
        meta["inlineHelpText"] = shorten(spec.help_text, HELP_TEXT_MAX_LENGTH)
    if spec.type in ("picklist", "multipicklist"):
        meta["valueSet"] = {
            "restricted": True,
            "valueSetDefinition": {
                "sorted": False,
                "value": picklist_entries(spec, label_limit),
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
    """Creates or checks custom fields and the integration and sales-user permission sets."""

    def __init__(self, client: SalesforceClient, describe: DescribeCache) -> None:
        self._client = client
        self._describe = describe

    @property
    def _label_limit(self) -> int:
        return min(self._client.settings.picklist_label_max_length, PICKLIST_LABEL_MAX_LENGTH)

    def provision(self, specs: Sequence[CustomFieldSpec]) -> ProvisionReport:
        report = ProvisionReport()
        ready: list[CustomFieldSpec] = []
        existing_ids: dict[str, dict[str, str]] = {}
        max_values = min(self._client.settings.picklist_max_values, PICKLIST_MAX_VALUES)
        for spec in specs:
            full_name = f"{spec.object_name}.{spec.name}"
            try:
                soql.check_name(spec.object_name, "object")
                soql.check_name(spec.name, full_name)
                if not spec.name.endswith("__c"):
                    report.problems.append(f"{full_name}: custom field names end with __c")
                    continue
                if len(spec.values) > max_values:
                    report.problems.append(
                        f"{full_name}: {len(spec.values)} values, more than the {max_values} a "
                        "picklist may hold (picklist_max_values)"
                    )
                    continue
                if spec.object_name not in existing_ids:
                    existing_ids[spec.object_name] = self._custom_field_ids(spec.object_name)
                field_id = existing_ids[spec.object_name].get(_developer_name(spec.name).lower())
                if field_id is None:
                    self._client.json_call(
                        f"create field {full_name}",
                        "POST",
                        "tooling/sobjects/CustomField",
                        {
                            "FullName": full_name,
                            "Metadata": field_metadata(spec, self._label_limit),
                        },
                    )
                    report.created.append(full_name)
                    ready.append(spec)
                    continue
                outcome = self._adopt(spec, field_id, max_values)
                if outcome.startswith("problem: "):
                    report.problems.append(f"{full_name}: {outcome[len('problem: ') :]}")
                    continue
                if outcome.startswith("kept: "):
                    report.unchanged.append(f"{full_name} ({outcome[len('kept: ') :]})")
                else:
                    (report.updated if outcome == "updated" else report.unchanged).append(full_name)
                ready.append(spec)
            except ApiError as exc:
                report.problems.append(f"{full_name}: {exc}")
        if ready:
            settings = self._client.settings
            try:
                self._grant(
                    settings.permission_set_name,
                    settings.permission_set_label,
                    {s: (True, s.access == "edit") for s in ready},
                    assign=True,
                )
            except ApiError as exc:
                report.problems.append(f"permission set {settings.permission_set_name}: {exc}")
            try:
                self._grant(
                    settings.users_permission_set_name,
                    settings.users_permission_set_label,
                    {s: (True, s.access == "read") for s in ready},
                    assign=False,
                )
                report.admin_steps.extend(admin_steps(settings, ready))
            except ApiError as exc:
                report.problems.append(
                    f"permission set {settings.users_permission_set_name}: {exc}"
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

    def _adopt(self, spec: CustomFieldSpec, field_id: str, max_values: int) -> str:
        """Check an existing field against the spec and bring it up to date: ``unchanged``,
        ``updated``, ``kept: <why>`` (an input field of the org's own kind), or
        ``problem: <why>``."""
        path = f"tooling/sobjects/CustomField/{field_id}"
        current = self._client.json_call(f"read field {spec.name}", "GET", path)
        metadata = dict(current.get("Metadata") or {}) if isinstance(current, dict) else {}
        problem = self.mismatch(spec, description_from_metadata(spec.name, metadata))
        if problem and spec.access == "read":
            # People's field, made by the org: never changed; validate judges whether it fits.
            existing = DESCRIBE_TYPES.get(str(metadata.get("type")), metadata.get("type"))
            return f"kept: the org's own {existing} field"
        if problem:
            return f"problem: {problem}"
        changed = False
        if spec.type in ("picklist", "multipicklist"):
            value_set = dict(metadata.get("valueSet") or {})
            definition = dict(value_set.get("valueSetDefinition") or {})
            have = [dict(v) for v in definition.get("value") or []]
            wanted = picklist_entries(spec, self._label_limit)
            values = (
                synced_values(have, wanted) if spec.exact_values else added_values(have, wanted)
            )
            if len(values) > max_values:
                return (
                    f"problem: would hold {len(values)} values with the retired ones, more than "
                    f"{max_values}; delete retired values in Setup"
                )
            if values != have:
                definition["value"] = values
                value_set["valueSetDefinition"] = definition
                metadata["valueSet"] = value_set
                changed = True
        if spec.help_text:
            help_text = shorten(spec.help_text, HELP_TEXT_MAX_LENGTH)
            if metadata.get("inlineHelpText") != help_text and spec.access == "read":
                metadata["inlineHelpText"] = help_text
                changed = True
        if spec.access == "edit":
            description = with_mark(
                metadata.get("description")
                if "description" in metadata
                else current.get("Description")
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

    def _grant(
        self,
        name: str,
        label: str,
        access: dict[CustomFieldSpec, tuple[bool, bool]],
        *,
        assign: bool,
    ) -> None:
        """Create permission set ``name`` if missing and give it (read, edit) per field, never
        taking away access it has; assign it to the integration user when ``assign``."""
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
                {"Name": name, "Label": label},
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
        for spec, (read, edit) in access.items():
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
                        "PermissionsRead": read,
                        "PermissionsEdit": edit,
                    },
                )
            elif (read and not row.get("PermissionsRead")) or (
                edit and not row.get("PermissionsEdit")
            ):
                self._client.json_call(
                    f"grant {full_name}",
                    "PATCH",
                    f"sobjects/FieldPermissions/{row['Id']}",
                    {
                        "PermissionsRead": read or bool(row.get("PermissionsRead")),
                        "PermissionsEdit": edit or bool(row.get("PermissionsEdit")),
                    },
                )
        if assign:
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


def added_values(have: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The existing values with the wanted ones they lack appended (compared as Salesforce
    compares value names, case-insensitively); nothing removed or relabelled."""
    names = {str(v.get("fullName")).casefold() for v in have}
    return [*have, *(w for w in wanted if str(w["fullName"]).casefold() not in names)]


def synced_values(have: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The value set of a picklist whose values are kam-sync's own: the wanted values in their
    order, with their labels and descriptions, then the other existing values made inactive
    (records keep them; nobody can pick them)."""
    existing = {str(v.get("fullName")).casefold(): v for v in have}
    result: list[dict[str, Any]] = []
    for entry in wanted:
        current = existing.pop(str(entry["fullName"]).casefold(), None)
        merged = {**(current or {}), **entry}
        if current is not None:
            merged["fullName"] = current.get("fullName", entry["fullName"])
        if current is not None and "isActive" in current:
            merged["isActive"] = True  # a question that came back is offered again
        result.append(merged)
    for retired in existing.values():
        result.append({**retired, "isActive": False})
    return result


def admin_steps(settings: Any, specs: Sequence[CustomFieldSpec]) -> list[str]:
    """What an admin does after provisioning so that people see and fill in the fields."""
    inputs = [s.name for s in specs if s.access == "read"]
    outputs = [s.name for s in specs if s.access == "edit"]
    objects = ", ".join(sorted({s.object_name for s in specs}))
    steps = [
        f"Assign the permission set '{settings.users_permission_set_label}' "
        f"({settings.users_permission_set_name}) to the sales users who work on key accounts "
        "(Setup > Permission Sets > Manage Assignments): it lets them read every KAM field and "
        "edit the KAM inputs.",
    ]
    if inputs:
        steps.append(
            f"Add the KAM inputs to the {objects} page layouts those users use (Setup > Object "
            f"Manager > {objects} > Page Layouts), in a section 'Key account plan': "
            + ", ".join(inputs)
        )
    if outputs:
        steps.append(
            "Add kam-sync's results to the same layouts, read-only, in a section 'Key account "
            "management': " + ", ".join(outputs)
        )
    return steps
