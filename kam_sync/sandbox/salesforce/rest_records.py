"""Record resources: describe, `sobjects/{Object}[/{Id}]`, and `composite/sobjects`.

sObject Collections (`PATCH composite/sobjects`) follow the REST API guide: up to 200
records, each with `attributes.type` and an `id`; results come back in request order; with
`allOrNone` one failure rolls every record back and the others report
`ALL_OR_NONE_OPERATION_ROLLED_BACK`. Record-level faults from the fault spec (`lock`,
`partial`) fail single records with `UNABLE_TO_LOCK_ROW` or `UNKNOWN_EXCEPTION`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kam_sync.sandbox.faults import FaultInjector
from kam_sync.sandbox.salesforce.errors import NOT_FOUND_MESSAGE, sf_error, sf_fail
from kam_sync.sandbox.salesforce.ids import normalize_id
from kam_sync.sandbox.salesforce.schema import ObjectSchema
from kam_sync.sandbox.salesforce.store import Record, SalesforceStore
from kam_sync.sandbox.salesforce.values import RecordError, formatter
from kam_sync.sandbox.server import Request, Response, empty_response, json_response

MAX_COLLECTION_RECORDS = 200
ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)


def base_path(request: Request) -> str:
    """`/services/data/vNN.0/` of the request's API version."""
    return f"/services/data/v{request.params.get('version', '59.0')}/"


def record_fault_error(kind: str, record_id: str, faults: FaultInjector) -> RecordError | None:
    """The error an injected record-level fault produces, if one fires for this record."""
    fault = faults.record_fault(kind, record_id)
    if fault == "lock":
        return RecordError(
            "UNABLE_TO_LOCK_ROW",
            f"unable to obtain exclusive access to this record or 1 records: {record_id}",
        )
    if fault == "partial":
        return RecordError(
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact "
            "support: 1384567391-50213 (-1553097826)",
        )
    return None


class RecordService:
    """Describe and record reads/writes over the store."""

    def __init__(
        self,
        store: SalesforceStore,
        faults: FaultInjector,
        *,
        count_read: Callable[[int], None],
        count_written: Callable[[int], None],
    ) -> None:
        self.store = store
        self.faults = faults
        self._count_read = count_read
        self._count_written = count_written

    def schema_of(self, name: str) -> ObjectSchema:
        schema = self.store.schema.get(name)
        if schema is None:
            raise sf_fail(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        return schema

    # -- describe -------------------------------------------------------------------------

    def global_describe(self, request: Request) -> Response:
        objects = [s.global_entry(base_path(request)) for s in self.store.schema.objects.values()]
        return json_response(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objects})

    def describe(self, request: Request) -> Response:
        schema = self.schema_of(request.params["sobject"])
        children = self.store.schema.child_relationships(schema.name)
        body = schema.describe(base_path(request), children)
        # Field-level security (field_access): a field the user cannot read is not in its
        # describe; one it can read but not edit is shown neither createable nor updateable.
        access = self.store.field_access
        fields = []
        for raw in body["fields"]:
            field_def = schema.get(raw["name"])
            read, edit = access.of(schema.name, field_def) if field_def else (True, True)
            if not read:
                continue
            fields.append(raw if edit else {**raw, "updateable": False, "createable": False})
        body["fields"] = fields
        return json_response(200, body)

    def basic_info(self, request: Request) -> Response:
        schema = self.schema_of(request.params["sobject"])
        return json_response(
            200, {"objectDescribe": schema.global_entry(base_path(request)), "recentItems": []}
        )

    # -- single records -------------------------------------------------------------------

    def get_record(self, request: Request) -> Response:
        schema = self.schema_of(request.params["sobject"])
        record_id = request.params["record_id"]
        record = self._existing(schema, record_id)
        wanted = request.query_one("fields")
        names = [n.strip() for n in wanted.split(",")] if wanted else None
        body = self.render(schema, record, base_path(request), names)
        self._count_read(1)
        return json_response(200, body)

    def render(
        self, schema: ObjectSchema, record: Record, path: str, names: list[str] | None = None
    ) -> dict[str, Any]:
        """A record as `GET sobjects/{Object}/{Id}` returns it."""
        out: dict[str, Any] = {
            "attributes": {
                "type": schema.name,
                "url": f"{path}sobjects/{schema.name}/{record['Id']}",
            },
        }
        can_read = self.store.field_access.can_read
        fields = (
            [f for f in schema.fields.values() if can_read(schema.name, f)] if names is None else []
        )
        if names is not None:
            for name in names:
                field_def = schema.get(name)
                if field_def is None or not can_read(schema.name, field_def):
                    raise sf_fail(
                        400,
                        "INVALID_FIELD",
                        f"No such column '{name}' on sobject of type {schema.name}",
                    )
                fields.append(field_def)
        for field_def in fields:
            value = record.get(field_def.name)
            out[field_def.name] = None if value is None else formatter(field_def)(value)
        return out

    def _existing(self, schema: ObjectSchema, record_id: str) -> Record:
        normalized = normalize_id(record_id)
        record = None if normalized is None else self.store.table(schema.name).get(normalized)
        if record is None:
            raise sf_fail(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {record_id}"
                if normalized is None
                else NOT_FOUND_MESSAGE,
            )
        if record["IsDeleted"]:
            raise sf_fail(404, "ENTITY_IS_DELETED", "entity is deleted")
        return record

    def patch_record(self, request: Request) -> Response:
        schema = self.schema_of(request.params["sobject"])
        body = request.json()
        if not isinstance(body, dict):
            raise sf_fail(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of object")
        record_id = request.params["record_id"]
        self._existing(schema, record_id)
        try:
            error = record_fault_error(request.kind, record_id, self.faults)
            if error is not None:
                raise error
            with self.store.lock:
                record = self.store.check_updatable(schema, record_id)
                changes = self.store.validate_changes(schema, body)
                self.store.apply_update(schema, record, changes)
        except RecordError as exc:
            return sf_error(400, exc.status_code, exc.message, exc.fields)
        self._count_written(1)
        return empty_response(204)

    def delete_record(self, request: Request) -> Response:
        schema = self.schema_of(request.params["sobject"])
        record = self._existing(schema, request.params["record_id"])
        self.store.delete(schema.name, record["Id"])
        self._count_written(1)
        return empty_response(204)

    def create_record(self, request: Request) -> Response:
        schema = self.schema_of(request.params["sobject"])
        body = request.json()
        if not isinstance(body, dict):
            raise sf_fail(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of object")
        try:
            record = self.create(schema, body)
        except RecordError as exc:
            return sf_error(400, exc.status_code, exc.message, exc.fields)
        self._count_written(1)
        return json_response(201, {"id": record["Id"], "success": True, "errors": []})

    def create(self, schema: ObjectSchema, body: Mapping[str, Any]) -> Record:
        """Create one record, with the checks special objects need."""
        with self.store.lock:
            if schema.name == "FieldPermissions":
                self._check_field_permission(body)
            if schema.name == "PermissionSet":
                name = str(body.get("Name", ""))
                if any(r["Name"] == name for r in self.store.records("PermissionSet")):
                    raise RecordError(
                        "DUPLICATE_DEVELOPER_NAME",
                        f"The permission set name '{name}' is already in use.",
                        ["Name"],
                    )
            return self.store.create(schema, body)

    def _check_field_permission(self, body: Mapping[str, Any]) -> None:
        parent = self.store.get("PermissionSet", str(body.get("ParentId", "")))
        if parent is None or parent["IsDeleted"]:
            raise RecordError(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["ParentId"]
            )
        field_name = str(body.get("Field", ""))
        sobject, _, name = field_name.partition(".")
        schema = self.store.schema.get(sobject)
        if schema is None or schema.get(name) is None or sobject != body.get("SobjectType"):
            # Field is a restricted picklist of object.field names in Salesforce.
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"Field Name: bad value for restricted picklist field: {field_name}",
                ["Field"],
            )
        for existing in self.store.records("FieldPermissions"):
            if existing["ParentId"] == parent["Id"] and existing["Field"] == field_name:
                raise RecordError(
                    "DUPLICATE_VALUE",
                    "duplicate value found: <unknown> duplicates value on record with id: "
                    f"{existing['Id']}",
                )

    # -- sObject Collections --------------------------------------------------------------

    def collection_update(self, request: Request) -> Response:
        """`PATCH composite/sobjects`."""
        body = request.json()
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise sf_fail(400, "JSON_PARSER_ERROR", "records: a list of sObjects is required")
        if len(records) > MAX_COLLECTION_RECORDS:
            # Salesforce refuses the whole request with this code and text (as reported in
            # sorenkrabbe/Chrome-Salesforce-inspector#134).
            raise sf_fail(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        all_or_none = bool(body.get("allOrNone", False))
        store = self.store
        with store.lock:
            planned: list[tuple[ObjectSchema, Record, dict[str, Any]] | RecordError] = []
            for raw in records:
                planned.append(self._plan_update(request.kind, raw))
            failed = any(isinstance(p, RecordError) for p in planned)
            results: list[dict[str, Any]] = []
            written = 0
            for plan in planned:
                if isinstance(plan, RecordError):
                    results.append({"success": False, "errors": [plan.as_json()]})
                elif all_or_none and failed:
                    results.append(
                        {"id": plan[1]["Id"], "success": False, "errors": [ROLLED_BACK.as_json()]}
                    )
                else:
                    schema, record, changes = plan
                    store.apply_update(schema, record, changes)
                    written += 1
                    results.append({"id": record["Id"], "success": True, "errors": []})
        self._count_written(written)
        return json_response(200, results)

    def _plan_update(
        self, kind: str, raw: Any
    ) -> tuple[ObjectSchema, Record, dict[str, Any]] | RecordError:
        if not isinstance(raw, dict):
            return RecordError("JSON_PARSER_ERROR", "each record must be a JSON object")
        attributes = raw.get("attributes")
        type_name = attributes.get("type") if isinstance(attributes, dict) else None
        if not type_name:
            return RecordError("INVALID_TYPE", "sObject type is required in attributes")
        schema = self.store.schema.get(str(type_name))
        if schema is None:
            return RecordError("INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
        record_id = raw.get("id", raw.get("Id"))
        if record_id is None:
            return RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        try:
            record = self.store.check_updatable(schema, record_id)
            fields = {k: v for k, v in raw.items() if k not in ("attributes", "id", "Id")}
            changes = self.store.validate_changes(schema, fields)
            error = record_fault_error(kind, record["Id"], self.faults)
            if error is not None:
                return error
        except RecordError as exc:
            return exc
        return schema, record, changes
