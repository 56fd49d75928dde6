"""The Salesforce sandbox's records: tables per object, validated writes, modstamps, files.

Every write bumps `SystemModstamp` and `LastModifiedDate` (and `LastModifiedById`).
Salesforce stamps whole seconds (the API always shows `.000`); the sandbox does the same,
so an incremental client must use a look-back window, as it must against Salesforce.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kam_sync.sandbox.salesforce.field_access import FieldAccess
from kam_sync.sandbox.salesforce.ids import make_id, normalize_id
from kam_sync.sandbox.salesforce.schema import FieldDef, ObjectSchema, SchemaRegistry
from kam_sync.sandbox.salesforce.standard_objects import CLOSED_STAGES, standard_registry
from kam_sync.sandbox.salesforce.values import (
    RecordError,
    coerce_for_write,
    formatter,
    parse_date,
    parse_datetime,
)

Record = dict[str, Any]
Clock = Callable[[], dt.datetime]

DATA_FORMAT = "kam-sync-sandbox-salesforce/2"
API_USER_NUMBER = 0  # the integration user the sandbox's credentials log in as
_SYSTEM_FIELDS = frozenset({"id", "isdeleted", "createddate", "createdbyid", "systemmodstamp"})
_SYSTEM_FIELDS |= {"lastmodifieddate", "lastmodifiedbyid"}


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class SalesforceStore:
    """Tables of records keyed by 18-character id, with the org's schema."""

    def __init__(self, schema: SchemaRegistry | None = None, clock: Clock = _utc_now) -> None:
        self.schema = schema or standard_registry()
        self.clock = clock
        self.lock = threading.RLock()
        self.tables: dict[str, dict[str, Record]] = {
            name.lower(): {} for name in self.schema.names()
        }
        self.tooling_tables: dict[str, dict[str, Record]] = {
            name: {} for name in self.schema.tooling
        }
        self._next_number: dict[str, int] = {}
        # Bumped on every write to a table; the query engine's sort caches key on it.
        self.table_versions: dict[str, int] = {}
        # The seed this org was generated from, and the ids written since, per table: what
        # a data file has to keep.
        self.origin: dict[str, int] = {}
        self.changed: dict[str, set[str]] = {}
        self.api_user_id = make_id("User", API_USER_NUMBER)
        # Field-level security (see field_access): strict by default; False is the lax form.
        # The seeded org's custom fields are granted to the API user by its profile.
        self.field_level_security = True
        self.profile_fields: set[str] = {
            f"{schema.name}.{field_def.name}".lower()
            for schema in self.schema.objects.values()
            for field_def in schema.fields.values()
            if field_def.custom
        }
        self.field_access = FieldAccess(self)
        # The delete log the Get Deleted resource reads: (id, deletedDate) per object, oldest
        # first (REST API Developer Guide, "sObject Get Deleted"). Every delete is logged,
        # recycle-bin and hard ones; purging the recycle bin leaves the log as it is.
        self.delete_log: dict[str, list[tuple[str, dt.datetime]]] = {}
        self.delete_log_start: dict[str, dt.datetime] = {}  # entries before it were purged

    # -- reading --------------------------------------------------------------------------

    def table(self, sobject: str, *, tooling: bool = False) -> dict[str, Record]:
        """All records of an object (deleted ones included), keyed by id."""
        return (self.tooling_tables if tooling else self.tables)[sobject.lower()]

    def get(self, sobject: str, record_id: str) -> Record | None:
        """One record by id (15 or 18 characters), deleted or not."""
        normalized = normalize_id(record_id)
        if normalized is None:
            return None
        return self.tables.get(sobject.lower(), {}).get(normalized)

    def find(self, record_id: str) -> tuple[str, Record] | None:
        """The object name and record of an id, whatever its object."""
        normalized = normalize_id(record_id)
        if normalized is None:
            return None
        for schema in self.schema.objects.values():
            record = self.tables[schema.name.lower()].get(normalized)
            if record is not None:
                return schema.name, record
        return None

    def records(self, sobject: str) -> Iterator[Record]:
        """Live records of an object (not deleted)."""
        return (r for r in self.tables[sobject.lower()].values() if not r["IsDeleted"])

    # -- writing --------------------------------------------------------------------------

    def new_id(self, sobject: str) -> str:
        """Allocate the next id for an object."""
        with self.lock:
            number = self._next_number.get(sobject, 1_000_000)
            self._next_number[sobject] = number + 1
        return make_id(sobject, number)

    def put_seed(self, sobject: str, record: Record) -> None:
        """Load one seeded record as is (the seeder sets ids and stamps)."""
        self.tables[sobject.lower()][record["Id"]] = record
        self.table_versions[sobject.lower()] = self.table_versions.get(sobject.lower(), 0) + 1

    def order_tables_by_modstamp(self) -> None:
        """Reorder every table by (SystemModstamp, Id), the order incremental pulls use.

        Incremental pulls sort by exactly that; a table already in that order sorts in
        near-linear time, so the first pull of 500,000 opportunities stays cheap. Writes
        keep the order (`_stamp` moves a written record to the end).
        """
        with self.lock:
            for table in self.tables.values():
                ordered = sorted(
                    table.items(), key=lambda item: (item[1]["SystemModstamp"], item[0])
                )
                table.clear()
                table.update(ordered)

    def validate_changes(
        self,
        schema: ObjectSchema,
        raw: Mapping[str, Any],
        *,
        creating: bool = False,
        as_api_user: bool = True,
    ) -> dict[str, Any]:
        """Check the fields a client sends and return their stored values.

        Raises `RecordError` on the first invalid field, as a SaveResult reports it. The API
        user's field-level security applies (`as_api_user=False`: a person with full access).
        """
        changes: dict[str, Any] = {}
        for name, value in raw.items():
            if name == "attributes":
                continue
            field_def = schema.get(name)
            read, edit = (
                self.field_access.of(schema.name, field_def)
                if field_def is not None and as_api_user
                else (True, True)
            )
            if field_def is None or not read:
                raise RecordError(
                    "INVALID_FIELD",
                    f"No such column '{name}' on sobject of type {schema.name}",
                    [name],
                )
            if name.lower() == "id":
                continue
            if not edit or not (field_def.createable if creating else field_def.updateable):
                raise RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {field_def.name}. Please check the "
                    "security settings of this field and verify that it is read/write for "
                    "your profile or permission set.",
                    [field_def.name],
                )
            changes[field_def.name] = coerce_for_write(field_def, value)
        return changes

    def check_updatable(self, schema: ObjectSchema, record_id: Any) -> Record:
        """The record an update targets; raises `RecordError` for a bad or deleted id."""
        normalized = normalize_id(record_id) if isinstance(record_id, str) else None
        if normalized is None:
            raise RecordError(
                "MALFORMED_ID",
                f"{schema.label} ID: id value of incorrect type: {record_id}",
                ["Id"],
            )
        record = self.tables[schema.name.lower()].get(normalized)
        if record is None:
            found = self.find(normalized)
            if found is not None:
                raise RecordError(
                    "MALFORMED_ID",
                    f"{schema.label} ID: id value of incorrect type: {record_id}",
                    ["Id"],
                )
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if record["IsDeleted"]:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted")
        return record

    def apply_update(
        self, schema: ObjectSchema, record: Record, changes: Mapping[str, Any]
    ) -> None:
        """Apply validated changes to a record and stamp it."""
        with self.lock:
            record.update(changes)
            self._derive(schema, record)
            self._stamp(record, schema.name.lower())

    def create(self, schema: ObjectSchema, raw: Mapping[str, Any]) -> Record:
        """Validate and insert a new record; raises `RecordError`."""
        changes = self.validate_changes(schema, raw, creating=True)
        missing = [
            f.name
            for f in schema.fields.values()
            if not f.nillable
            and f.createable
            and f.type != "boolean"
            and f.name not in changes
            and f.name not in {"OwnerId", "AccountAccessLevel"}
        ]
        if missing:
            raise RecordError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        now = self.clock()
        record: Record = {f.name: f.default_value for f in schema.fields.values()}
        record.update(changes)
        record.update(
            Id=self.new_id(schema.name),
            IsDeleted=False,
            CreatedDate=now,
            CreatedById=self.api_user_id,
        )
        if "OwnerId" in record and record["OwnerId"] is None:
            record["OwnerId"] = self.api_user_id
        if "AccountAccessLevel" in record and record["AccountAccessLevel"] is None:
            record["AccountAccessLevel"] = "Read"
        with self.lock:
            self._derive(schema, record)
            self._stamp(record, schema.name.lower())
            self.tables[schema.name.lower()][record["Id"]] = record
        return record

    def create_tooling(self, sobject: str, values: Mapping[str, Any]) -> Record:
        """Insert a Tooling API record (already validated by the caller)."""
        schema = self.schema.get(sobject, tooling=True)
        assert schema is not None
        now = self.clock()
        record: Record = {f.name: None for f in schema.fields.values()}
        record.update(values)
        record.update(
            Id=self.new_id(schema.name),
            IsDeleted=False,
            CreatedDate=now,
            CreatedById=self.api_user_id,
        )
        with self.lock:
            self._stamp(record, "tooling:" + schema.name.lower())
            self.tooling_tables[schema.name.lower()][record["Id"]] = record
        return record

    def delete(self, sobject: str, record_id: str) -> None:
        """Move a record to the recycle bin (`IsDeleted`), as a person deleting it would."""
        record = self.get(sobject, record_id)
        if record is None:
            raise KeyError(record_id)
        with self.lock:
            record["IsDeleted"] = True
            self._stamp(record, sobject.lower())
            self._log_delete(sobject, record["Id"])

    def hard_delete(self, sobject: str, record_id: str) -> None:
        """Delete a record past the recycle bin (Bulk API ``hardDelete``, or deleting and then
        emptying the bin): ``queryAll`` no longer returns it (REST API Developer Guide,
        "QueryAll": records purged from the recycle bin are not returned); Get Deleted does.
        """
        key = sobject.lower()
        with self.lock:
            record = self.get(sobject, record_id)
            if record is None:
                raise KeyError(record_id)
            if not record["IsDeleted"]:
                self._log_delete(sobject, record["Id"])
            del self.tables[key][record["Id"]]
            self.table_versions[key] = self.table_versions.get(key, 0) + 1

    def purge_recycle_bin(self, sobject: str) -> list[str]:
        """Empty the recycle bin of one object; the ids purged."""
        key = sobject.lower()
        with self.lock:
            purged = [i for i, r in self.tables[key].items() if r["IsDeleted"]]
            for record_id in purged:
                del self.tables[key][record_id]
            self.table_versions[key] = self.table_versions.get(key, 0) + 1
        return purged

    def purge_delete_log(self, sobject: str, before: dt.datetime) -> None:
        """Drop delete-log entries older than ``before`` (Salesforce purges the log too)."""
        with self.lock:
            log = self.delete_log.get(sobject.lower(), [])
            self.delete_log[sobject.lower()] = [e for e in log if e[1] >= before]
            self.delete_log_start[sobject.lower()] = before

    def merge(self, sobject: str, master_id: str, loser_id: str) -> None:
        """Merge ``loser_id`` into ``master_id`` as Salesforce does: the loser's children are
        re-parented to the master (and stamped), the loser goes to the recycle bin with
        ``MasterRecordId`` set (Object Reference, Account: "MasterRecordId: if this record was
        deleted as the result of a merge, this field contains the ID of the record that
        remains").
        """
        with self.lock:
            master, loser = self.get(sobject, master_id), self.get(sobject, loser_id)
            if master is None or loser is None:
                raise KeyError(master_id if master is None else loser_id)
            for schema in self.schema.objects.values():
                for field_def in schema.fields.values():
                    if field_def.type != "reference" or sobject not in field_def.reference_to:
                        continue
                    key = schema.name.lower()
                    for child in list(self.tables[key].values()):
                        if child.get(field_def.name) == loser["Id"] and child is not loser:
                            child[field_def.name] = master["Id"]
                            self._stamp(child, key)
            loser["MasterRecordId"] = master["Id"]
        self.delete(sobject, loser["Id"])

    def _log_delete(self, sobject: str, record_id: str) -> None:
        self.delete_log.setdefault(sobject.lower(), []).append((record_id, self.clock()))

    def human_edit(self, sobject: str, record_id: str, **fields: Any) -> None:
        """Change fields as a person in the CRM would (tests use it); values are validated."""
        schema = self.schema.get(sobject)
        assert schema is not None
        record = self.check_updatable(schema, record_id)
        raw = {k: (_wire(v)) for k, v in fields.items()}
        self.apply_update(schema, record, self.validate_changes(schema, raw, as_api_user=False))

    def _derive(self, schema: ObjectSchema, record: Record) -> None:
        if schema.name == "Opportunity":
            stage = str(record.get("StageName") or "")
            record["IsClosed"] = stage in CLOSED_STAGES
            record["IsWon"] = CLOSED_STAGES.get(stage, False)
        elif schema.name in ("User", "Contact"):
            first, last = record.get("FirstName"), record.get("LastName")
            record["Name"] = " ".join(p for p in (first, last) if p)

    def _stamp(self, record: Record, table_key: str) -> None:
        now = self.clock()
        record["LastModifiedDate"] = now
        record["SystemModstamp"] = now
        record["LastModifiedById"] = self.api_user_id
        table = self.tables.get(table_key)
        if table is not None and record["Id"] in table:
            # Move the record to the end: tables stay in modification order, which keeps
            # the next incremental-pull sort near linear.
            table[record["Id"]] = table.pop(record["Id"])
        self.table_versions[table_key] = self.table_versions.get(table_key, 0) + 1
        self.changed.setdefault(table_key, set()).add(record["Id"])

    def bump(self, table_key: str) -> None:
        """Mark a table changed without stamping a record (schema-level edits)."""
        self.table_versions[table_key] = self.table_versions.get(table_key, 0) + 1

    def table_version(self, sobject: str, *, tooling: bool = False) -> int:
        """A number that changes whenever a record of the object changes."""
        key = ("tooling:" if tooling else "") + sobject.lower()
        return self.table_versions.get(key, 0)

    # -- files (`--data FILE`) ----------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write what changed since the seed to a JSON file, atomically.

        `origin` names the seed (accounts, seed) that is regenerated before the file is
        replayed; the file holds only custom fields, Tooling records and records written
        since the seed.
        """
        with self.lock:
            changed: dict[str, list[dict[str, Any]]] = {}
            for key, schema in self.schema.objects.items():
                table = self.tables[key]
                ids = self.changed.get(key, set())
                changed[schema.name] = [_record_json(schema, table[i]) for i in sorted(ids)]
            payload = {
                "format": DATA_FORMAT,
                "origin": self.origin,
                "custom_fields": {
                    schema.name: [_field_json(f) for f in schema.fields.values() if f.custom]
                    for schema in self.schema.objects.values()
                },
                "changed": changed,
                "tooling_tables": {
                    schema.name: [
                        _record_json(schema, r) for r in self.tooling_tables[key].values()
                    ]
                    for key, schema in self.schema.tooling.items()
                },
                "next_number": self._next_number,
            }
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(payload, separators=(",", ":")))
        temporary.replace(path)

    @staticmethod
    def read_data_file(path: Path) -> dict[str, Any]:
        """The parsed data file; raises ValueError when it is not one."""
        try:
            payload = json.loads(path.read_text())
        except ValueError as exc:
            raise ValueError(f"{path}: not a Salesforce sandbox data file ({exc})") from None
        if not isinstance(payload, dict) or payload.get("format") != DATA_FORMAT:
            raise ValueError(f"{path}: not a Salesforce sandbox data file ({DATA_FORMAT})")
        return payload

    def apply_saved(self, payload: Mapping[str, Any]) -> None:
        """Replay a data file on a store seeded from the file's origin."""
        with self.lock:
            for sobject, fields in payload["custom_fields"].items():
                for values in fields:
                    values["picklist"] = tuple(values["picklist"])
                    values["reference_to"] = tuple(values["reference_to"])
                    self.schema.add_field(sobject, FieldDef(**values))
            for sobject, records in payload["changed"].items():
                schema = self.schema.get(sobject)
                assert schema is not None
                key = schema.name.lower()
                for raw in records:
                    self.tables[key][raw["Id"]] = _record_from_json(schema, raw)
                    self.changed.setdefault(key, set()).add(raw["Id"])
                self.bump(key)
            for sobject, records in payload.get("tooling_tables", {}).items():
                schema = self.schema.get(sobject, tooling=True)
                assert schema is not None
                table = self.tooling_tables[schema.name.lower()]
                table.clear()
                for raw in records:
                    table[raw["Id"]] = _record_from_json(schema, raw)
            self._next_number = {k: int(v) for k, v in payload["next_number"].items()}


def _wire(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _field_json(field_def: FieldDef) -> dict[str, Any]:
    values = asdict(field_def)
    values["picklist"] = list(field_def.picklist)
    values["reference_to"] = list(field_def.reference_to)
    return values


def _record_json(schema: ObjectSchema, record: Record) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in record.items():
        field_def = schema.get(name)
        if field_def is None or value is None:
            out[name] = value
        elif field_def.type in ("currency", "double", "percent"):
            out[name] = str(value)
        else:
            out[name] = formatter(field_def)(value)
    return out


def _record_from_json(schema: ObjectSchema, raw: Mapping[str, Any]) -> Record:
    from decimal import Decimal

    record: Record = {}
    for name, value in raw.items():
        field_def = schema.get(name)
        if field_def is None or value is None:
            record[name] = value
        elif field_def.type in ("currency", "double", "percent"):
            record[name] = Decimal(value)
        elif field_def.type == "date":
            record[name] = parse_date(value)
        elif field_def.type == "datetime":
            record[name] = parse_datetime(value)
        else:
            record[name] = value
    return record


__all__ = ["API_USER_NUMBER", "Record", "RecordError", "SalesforceStore", "normalize_id"]
