"""Tooling API `CustomField` creation: the new field appears in describe at once.

The request body follows the Tooling API: `{"FullName": "Account.KAM_Tier__c",
"Metadata": {"label", "type", "length" | "precision"/"scale" | "valueSet", ...}}`, with the
Metadata API's field types (Text, LongTextArea, TextArea, Picklist, MultiselectPicklist,
Number, Percent, Currency, Checkbox, Date, DateTime). As in a real org, a field created here
is granted to no one: the API user sees it only once a permission set assigned to it grants it
through FieldPermissions (see field_access). Creating a field whose developer name the object
already has (case-insensitively) fails `DUPLICATE_DEVELOPER_NAME`, whether or not the user can
see the field (Metadata API Developer Guide, "CustomField": fullName must be unique; SOAP API
"StatusCode": DUPLICATE_DEVELOPER_NAME). Picklist value names are unique case-insensitively:
`Action plan` and `Action Plan` in one value set fail `DUPLICATE_VALUE` (Salesforce Help,
"Picklist Limitations": API names of values are case-insensitive).

Limits, as Salesforce documents them: a custom picklist value's label and API name hold up to
255 characters, a restricted picklist up to 1,000 values active and inactive together
(Salesforce Help, "Picklist Limitations"), help text up to 510 characters (Salesforce Help,
"Custom Field Attributes"). A value with `isActive: false` stays in the value set (and counts)
but is no longer offered: describe leaves it out and a restricted field refuses it (Metadata
API, "CustomValue": isActive).
"""

from __future__ import annotations

import re
from typing import Any

from kam_sync.sandbox.salesforce.errors import sf_fail
from kam_sync.sandbox.salesforce.schema import FieldDef
from kam_sync.sandbox.salesforce.store import SalesforceStore
from kam_sync.sandbox.server import Request, Response, empty_response, json_response

PICKLIST_VALUE_MAX_LENGTH = 255
RESTRICTED_PICKLIST_MAX_VALUES = 1000
HELP_TEXT_MAX_LENGTH = 510
_NAME = re.compile(r"^(?P<object>[A-Za-z][A-Za-z0-9_]*)\.(?P<field>[A-Za-z][A-Za-z0-9_]*__c)$")
_TYPES = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Picklist": "picklist",
    "MultiselectPicklist": "multipicklist",
    "Number": "double",
    "Percent": "percent",
    "Currency": "currency",
    "Checkbox": "boolean",
    "Date": "date",
    "DateTime": "datetime",
    "Email": "email",
    "Url": "url",
    "Phone": "phone",
}


def _integrity(message: str, field_name: str) -> Exception:
    return sf_fail(400, "FIELD_INTEGRITY_EXCEPTION", message, [field_name])


def field_from_metadata(api_name: str, metadata: dict[str, Any]) -> FieldDef:
    """Build the describe-level field for a Tooling API CustomField's Metadata."""
    kind = metadata.get("type")
    if kind not in _TYPES:
        allowed = ", ".join(_TYPES)
        raise _integrity(f"Type: bad value {kind!r}; the sandbox supports {allowed}", "Type")
    label = metadata.get("label")
    if not label:
        raise _integrity("Field Label: You must enter a value", "Label")
    ftype = _TYPES[str(kind)]
    help_text = metadata.get("inlineHelpText")
    if help_text is not None and len(str(help_text)) > HELP_TEXT_MAX_LENGTH:
        raise _integrity(
            f"Help Text: data value too large (max length={HELP_TEXT_MAX_LENGTH})", "InlineHelpText"
        )
    common: dict[str, Any] = {
        "custom": True,
        "label": str(label),
        "inline_help_text": None if help_text is None else str(help_text),
    }
    if kind == "Text":
        length = _int(metadata, "length", 1, 255)
        return FieldDef(api_name, type=ftype, length=length, **common)
    if kind == "TextArea":
        return FieldDef(api_name, type=ftype, length=255, **common)
    if kind == "LongTextArea":
        length = _int(metadata, "length", 256, 131072)
        return FieldDef(api_name, type=ftype, length=length, **common)
    if kind in ("Number", "Percent", "Currency"):
        precision = _int(metadata, "precision", 1, 18)
        scale = _int(metadata, "scale", 0, precision, default=0)
        return FieldDef(api_name, type=ftype, precision=precision, scale=scale, **common)
    if kind in ("Picklist", "MultiselectPicklist"):
        value_set = metadata.get("valueSet") or {}
        definition = value_set.get("valueSetDefinition") or {}
        entries = [v for v in definition.get("value", []) or [] if isinstance(v, dict)]
        values = [str(v.get("fullName") or v.get("label")) for v in entries]
        if not values:
            raise _integrity("Values: You must enter at least one value", "ValueSet")
        restricted = bool(value_set.get("restricted", False))
        if restricted and len(values) > RESTRICTED_PICKLIST_MAX_VALUES:
            raise _integrity(
                f"Values: a restricted picklist holds at most {RESTRICTED_PICKLIST_MAX_VALUES} "
                f"values, active and inactive; got {len(values)}",
                "ValueSet",
            )
        seen: set[str] = set()
        for entry, value in zip(entries, values, strict=True):
            if value.lower() in seen:
                raise sf_fail(400, "DUPLICATE_VALUE", f"Duplicate Value: {value}", ["ValueSet"])
            seen.add(value.lower())
            for what, text in (("API Name", value), ("Label", str(entry.get("label") or value))):
                if len(text) > PICKLIST_VALUE_MAX_LENGTH:
                    raise sf_fail(
                        400,
                        "STRING_TOO_LONG",
                        f"Value {what}: data value too large (max length="
                        f"{PICKLIST_VALUE_MAX_LENGTH})",
                        ["ValueSet"],
                    )
        active = [
            (value, str(entry.get("label") or value))
            for entry, value in zip(entries, values, strict=True)
            if entry.get("isActive", True) not in (False, "false")
        ]
        return FieldDef(
            api_name,
            type=ftype,
            length=255 if kind == "Picklist" else 4099,
            picklist=tuple(v for v, _ in active),
            picklist_labels=tuple(lbl for _, lbl in active),
            restricted=restricted,
            **common,
        )
    if kind == "Checkbox":
        default = str(metadata.get("defaultValue", "false")).lower() == "true"
        return FieldDef(api_name, type=ftype, nillable=False, default_value=default, **common)
    if kind in ("Email", "Url", "Phone"):
        return FieldDef(api_name, type=ftype, length=80 if kind == "Email" else 255, **common)
    return FieldDef(api_name, type=ftype, **common)


def _int(
    metadata: dict[str, Any], key: str, low: int, high: int, default: int | None = None
) -> int:
    raw = metadata.get(key, default)
    if raw is None:
        raise _integrity(f"{key.title()}: You must enter a value", key.title())
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise _integrity(f"{key.title()}: must be a whole number", key.title()) from None
    if not low <= value <= high:
        raise _integrity(f"{key.title()}: must be between {low} and {high}", key.title())
    return value


_METADATA_TYPES = {
    "string": "Text",
    "picklist": "Picklist",
    "multipicklist": "MultiselectPicklist",
    "double": "Number",
    "percent": "Percent",
    "currency": "Currency",
    "boolean": "Checkbox",
    "date": "Date",
    "datetime": "DateTime",
    "email": "Email",
    "url": "Url",
    "phone": "Phone",
}


def metadata_from_field(field_def: FieldDef) -> dict[str, Any]:
    """The Metadata API description of a custom field (what `GET CustomField/{id}` shows)."""
    if field_def.type == "textarea":
        kind = "LongTextArea" if field_def.length > 255 else "TextArea"
    else:
        kind = _METADATA_TYPES[field_def.type]
    metadata: dict[str, Any] = {"label": field_def.label, "type": kind}
    if field_def.inline_help_text is not None:
        metadata["inlineHelpText"] = field_def.inline_help_text
    if kind in ("Text", "LongTextArea"):
        metadata["length"] = field_def.length
    if kind == "LongTextArea":
        metadata["visibleLines"] = 3
    if kind in ("Number", "Percent", "Currency"):
        metadata["precision"] = field_def.precision
        metadata["scale"] = field_def.scale
    if kind == "Checkbox":
        metadata["defaultValue"] = "true" if field_def.default_value else "false"
    if kind in ("Picklist", "MultiselectPicklist"):
        metadata["valueSet"] = {
            "restricted": field_def.restricted,
            "valueSetDefinition": {
                "sorted": False,
                "value": [
                    {"fullName": v, "label": lbl, "default": False}
                    for v, lbl in zip(
                        field_def.picklist,
                        field_def.picklist_labels or field_def.picklist,
                        strict=True,
                    )
                ],
            },
        }
        if kind == "MultiselectPicklist":
            metadata["visibleLines"] = 4
    return metadata


def register_custom_fields(store: SalesforceStore) -> None:
    """Give every custom field in the schema its Tooling API `CustomField` record."""
    known = {r["FullName"] for r in store.tooling_tables["customfield"].values()}
    for schema in store.schema.objects.values():
        for field_def in schema.fields.values():
            full_name = f"{schema.name}.{field_def.name}"
            if field_def.custom and full_name not in known:
                store.create_tooling(
                    "CustomField",
                    {
                        "DeveloperName": field_def.name[: -len("__c")],
                        "TableEnumOrId": schema.name,
                        "FullName": full_name,
                        "NamespacePrefix": None,
                        "Description": None,
                        "Metadata": metadata_from_field(field_def),
                    },
                )


class ToolingService:
    """`POST tooling/sobjects/CustomField` and `GET tooling/sobjects/CustomField/{id}`."""

    def __init__(self, store: SalesforceStore) -> None:
        self.store = store

    def create_custom_field(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise sf_fail(400, "JSON_PARSER_ERROR", "a JSON object is required")
        match = _NAME.match(str(body.get("FullName", "")))
        if match is None:
            raise sf_fail(
                400, "INVALID_FIELD", "FullName must look like Object.Field__c", ["FullName"]
            )
        schema = self.store.schema.get(match["object"])
        if schema is None:
            raise sf_fail(
                400, "INVALID_TYPE", f"sObject type '{match['object']}' is not supported."
            )
        api_name = match["field"]
        metadata = body.get("Metadata")
        if not isinstance(metadata, dict):
            raise sf_fail(400, "REQUIRED_FIELD_MISSING", "Metadata is required", ["Metadata"])
        field_def = field_from_metadata(api_name, metadata)
        developer_name = api_name[: -len("__c")]
        with self.store.lock:
            if schema.get(api_name) is not None:
                raise sf_fail(
                    400,
                    "DUPLICATE_DEVELOPER_NAME",
                    f"There is already a field named {developer_name} on {schema.name}.",
                )
            self.store.schema.add_field(schema.name, field_def)
            record = self.store.create_tooling(
                "CustomField",
                {
                    "DeveloperName": developer_name,
                    "TableEnumOrId": schema.name,
                    "FullName": f"{schema.name}.{api_name}",
                    "NamespacePrefix": None,
                    "Description": metadata.get("description"),
                    "Metadata": {**metadata_from_field(field_def), **metadata},
                },
            )
        return json_response(
            201, {"id": record["Id"], "success": True, "errors": [], "warnings": [], "infos": []}
        )

    def _tooling_record(self, request: Request) -> dict[str, Any]:
        record = self.store.tooling_tables["customfield"].get(request.params["record_id"])
        if record is None:
            raise sf_fail(404, "NOT_FOUND", "The requested resource does not exist")
        return record

    def get_custom_field(self, request: Request) -> Response:
        record = self._tooling_record(request)
        return json_response(
            200,
            {
                "attributes": {"type": "CustomField", "url": request.path},
                "Id": record["Id"],
                "DeveloperName": record["DeveloperName"],
                "TableEnumOrId": record["TableEnumOrId"],
                "FullName": record["FullName"],
                "NamespacePrefix": None,
                "Description": record.get("Description"),
                "Metadata": {
                    **(record.get("Metadata") or {}),
                    "description": record.get("Description"),
                },
            },
        )

    def update_custom_field(self, request: Request) -> Response:
        """`PATCH tooling/sobjects/CustomField/{id}` with the field's full Metadata."""
        record = self._tooling_record(request)
        body = request.json()
        metadata = body.get("Metadata") if isinstance(body, dict) else None
        if not isinstance(metadata, dict):
            raise sf_fail(400, "REQUIRED_FIELD_MISSING", "Metadata is required", ["Metadata"])
        sobject, _, api_name = str(record["FullName"]).partition(".")
        field_def = field_from_metadata(api_name, metadata)
        with self.store.lock:
            current = self.store.schema.get(sobject)
            existing = current.get(api_name) if current is not None else None
            if existing is not None and existing.type != field_def.type:
                # Guess at the wording; Salesforce refuses most type changes through the API.
                raise sf_fail(
                    400,
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"Cannot change type of {record['FullName']} from {existing.type} "
                    f"to {field_def.type}",
                    ["Type"],
                )
            self.store.schema.add_field(sobject, field_def)
            record["Metadata"] = {**metadata_from_field(field_def), **metadata}
            if "description" in metadata:
                record["Description"] = metadata.get("description")
            self.store.bump("tooling:customfield")
        return empty_response(204)
