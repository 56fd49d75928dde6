"""Object endpoints: list, read, update, archive, batch read/update, search, owners, and
the v4 association reads.

Guessed, not documented: the wording of most messages; see `batch_update` for how failures
are reported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kam_sync.sandbox.faults import FaultInjector
from kam_sync.sandbox.hubspot.associations import AssociationReader
from kam_sync.sandbox.hubspot.errors import hubspot_error, record_error, validation_error
from kam_sync.sandbox.hubspot.properties import (
    InvalidValue,
    PropertyRegistry,
    canonical_object_type,
    iso_millis,
)
from kam_sync.sandbox.hubspot.request_input import (
    batch_inputs,
    json_body,
    page_link,
    parse_id,
    query_flag,
    query_int,
    query_list,
    table_for,
)
from kam_sync.sandbox.hubspot.search import (
    SearchCache,
    SearchPlan,
    page_properties,
    plan_search,
    run_search,
)
from kam_sync.sandbox.hubspot.store import CrmRecord, HubSpotStore, ObjectTable, RecordNotFound
from kam_sync.sandbox.server import Request, Response, empty_response, json_response
from kam_sync.sandbox.stats import SandboxStats

if TYPE_CHECKING:
    from kam_sync.sandbox.hubspot.app import HubSpotApp

MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 10
# HubSpot changelog "Bug Fix: Batch Read Limit for HubSpot Associations API" (Feb 2025).
MAX_ASSOCIATION_BATCH_INPUTS = 1000
MAX_OWNERS_LIMIT = 500
# Properties a response carries when the request names none (HubSpot's defaults).
DEFAULT_PROPERTIES = {
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
}
SINGULAR = {"companies": "COMPANY", "deals": "DEAL"}


class ObjectsApi:
    """The object endpoints of one `HubSpotApp` (its store, counters and faults)."""

    def __init__(self, app: HubSpotApp) -> None:
        self.app = app

    @property
    def store(self) -> HubSpotStore:
        return self.app.store

    @property
    def stats(self) -> SandboxStats:
        return self.app.stats

    @property
    def faults(self) -> FaultInjector:
        return self.app.faults

    @property
    def associations(self) -> AssociationReader:
        return self.app.associations

    @property
    def search_cache(self) -> SearchCache:
        return self.app.search_cache

    @property
    def invalid_values(self) -> str:
        return self.app.invalid_values

    def _table(self, request: Request, key: str = "type") -> ObjectTable:
        return table_for(self.store, request, key)

    def list_objects(self, request: Request) -> Response:
        table = self._table(request)
        limit = query_int(request, "limit", DEFAULT_LIST_LIMIT)
        if limit < 1 or limit > MAX_LIST_LIMIT:
            raise validation_error(f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}.")
        # The cursor is the id to resume at (the last id sent plus one), as HubSpot's is.
        after = query_int(request, "after", None)
        archived = query_flag(request, "archived")
        names = page_properties(
            query_list(request, "properties"), DEFAULT_PROPERTIES[table.object_type]
        )
        wanted_associations = query_list(request, "associations")
        results: list[dict[str, Any]] = []
        last: CrmRecord | None = None
        more = False
        with self.store.lock:
            start = None if after is None else after - 1
            for record in table.iter_from(start, archived=archived):
                if len(results) == limit:
                    more = True
                    break
                results.append(self._record_json(table, record, names, wanted_associations))
                last = record
        body: dict[str, Any] = {"results": results}
        if more and last is not None:
            cursor = str(last.id + 1)
            body["paging"] = {"next": {"after": cursor, "link": page_link(request, cursor, limit)}}
        self.stats.count_read(request.kind, len(results))
        return json_response(200, body)

    def get_object(self, request: Request) -> Response:
        table = self._table(request)
        archived = query_flag(request, "archived")
        record = self._find(table, request.params["id"], archived=archived)
        names = page_properties(
            query_list(request, "properties"), DEFAULT_PROPERTIES[table.object_type]
        )
        body = self._record_json(table, record, names, query_list(request, "associations"))
        self.stats.count_read(request.kind, 1)
        return json_response(200, body)

    def patch_object(self, request: Request) -> Response:
        table = self._table(request)
        payload = json_body(request)
        properties = payload.get("properties") if isinstance(payload, Mapping) else None
        if not isinstance(properties, Mapping):
            raise validation_error("The request body needs a properties object.")
        with self.store.lock:
            record = self._find(table, request.params["id"], archived=False)
            checked, invalid = self._check_values(table.registry, properties)
            if invalid:
                raise validation_error(_invalid_message(invalid))
            fault = self.faults.record_fault(request.kind, str(record.id))
            if fault is not None:
                self.stats.count_fault(fault)
                entry = _record_fault_error(fault, {"ids": [str(record.id)]})
                status = 409 if fault == "lock" else 500
                raise hubspot_error(status, entry["message"], entry["category"])
            self.store.write(table, record, checked)
            names = [*checked, "hs_lastmodifieddate", "hs_object_id", "createdate"]
            body = self._record_json(table, record, names, None)
        self.stats.count_written(request.kind, 1)
        return json_response(200, body)

    def merge(self, request: Request) -> Response:
        """`POST .../merge` with `primaryObjectId` and `objectIdToMerge`: the primary, merged
        (``HubSpotStore.merge`` says what a merge does)."""
        table = self._table(request)
        payload = json_body(request)
        if not isinstance(payload, Mapping):
            raise validation_error("The request body must be an object.")
        primary = parse_id(str(payload.get("primaryObjectId", "")))
        merged = parse_id(str(payload.get("objectIdToMerge", "")))
        if primary is None or merged is None or primary == merged:
            raise validation_error("primaryObjectId and objectIdToMerge must be two record ids.")
        with self.store.lock:
            survivor = self._find(table, str(primary), archived=False)
            self._find(table, str(merged), archived=False)
            self.store.merge(table.object_type, primary, merged)
            names = page_properties(None, DEFAULT_PROPERTIES[table.object_type])
            body = self._record_json(table, survivor, [*names, "hs_merged_object_ids"], None)
        self.stats.count_written(request.kind, 1)
        return json_response(200, body)

    def archive_object(self, request: Request) -> Response:
        table = self._table(request)
        record_id = parse_id(request.params["id"])
        if record_id is not None:
            # HubSpot answers 204 for an id that is already gone.
            with contextlib.suppress(RecordNotFound):
                self.store.archive(table.object_type, record_id)
        self.stats.count_written(request.kind, 1)
        return empty_response(204)

    def batch_read(self, request: Request) -> Response:
        table = self._table(request)
        payload = json_body(request)
        inputs = batch_inputs(payload)
        archived = query_flag(request, "archived")
        names = page_properties(
            payload.get("properties") if isinstance(payload, Mapping) else None,
            DEFAULT_PROPERTIES[table.object_type],
        )
        id_property = payload.get("idProperty") if isinstance(payload, Mapping) else None
        started = iso_millis(self.store.clock())
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        with self.store.lock:
            for item in inputs:
                raw_id = str(item.get("id", ""))
                record = self._lookup(table, raw_id, id_property, archived=archived)
                if record is None:
                    missing.append(raw_id)
                else:
                    results.append(self._record_json(table, record, names, None))
        self.stats.count_read(request.kind, len(results))
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso_millis(self.store.clock()),
        }
        if not missing:
            return json_response(200, body)
        body["numErrors"] = 1
        body["errors"] = [
            record_error(
                f"Could not get some {SINGULAR[table.object_type]} objects, they may be "
                "deleted or not exist. Check that ids are valid.",
                "OBJECT_NOT_FOUND",
                context={"ids": missing},
            )
        ]
        return json_response(207, body)

    def batch_update(self, request: Request) -> Response:
        """Update up to 100 records; per-record failures come back in a 207 `errors` array.

        Failures are matched by `objectWriteTraceId` when the input carries one, and always
        by `ids` in the error's context. By default an invalid property value refuses the whole
        batch with one 400 VALIDATION_ERROR, as real portals do (reports from the field, e.g.
        github.com/Atlas-Authority/marketing-automation/issues/174; issue 14);
        `invalid_values="per_record"` is the lax form, failing only that record in a 207. Guessed: results list the written
        properties plus `hs_lastmodifieddate`, `hs_object_id` and `createdate`.
        """
        table = self._table(request)
        inputs = batch_inputs(json_body(request))
        ids = [str(item.get("id", "")) for item in inputs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise validation_error(f"Duplicate IDs found in batch input: {duplicates}")
        if self.invalid_values == "whole_batch":
            self._refuse_batch_with_invalid_values(table.registry, inputs)
        started = iso_millis(self.store.clock())
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.store.lock:
            for item in inputs:
                raw_id = str(item.get("id", ""))
                trace = item.get("objectWriteTraceId")
                context: dict[str, list[str]] = {"ids": [raw_id]}
                if trace is not None:
                    context["objectWriteTraceId"] = [str(trace)]
                properties = item.get("properties")
                if not isinstance(properties, Mapping):
                    errors.append(
                        record_error(
                            "Each input needs a properties object.",
                            "VALIDATION_ERROR",
                            context=context,
                        )
                    )
                    continue
                record = self._lookup(table, raw_id, item.get("idProperty"), archived=False)
                if record is None:
                    errors.append(
                        record_error(
                            f"Could not update some {SINGULAR[table.object_type]} objects, they "
                            "may be deleted or not exist. Check that ids are valid.",
                            "OBJECT_NOT_FOUND",
                            context=context,
                        )
                    )
                    continue
                checked, invalid = self._check_values(table.registry, properties)
                if invalid:
                    errors.append(
                        record_error(_invalid_message(invalid), "VALIDATION_ERROR", context=context)
                    )
                    continue
                fault = self.faults.record_fault(request.kind, str(record.id))
                if fault is not None:
                    self.stats.count_fault(fault)
                    errors.append(_record_fault_error(fault, context))
                    continue
                self.store.write(table, record, checked)
                names = [*checked, "hs_lastmodifieddate", "hs_object_id", "createdate"]
                result = self._record_json(table, record, names, None)
                if trace is not None:
                    result["objectWriteTraceId"] = str(trace)
                results.append(result)
        self.stats.count_written(request.kind, len(results))
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso_millis(self.store.clock()),
        }
        if not errors:
            return json_response(200, body)
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return json_response(207, body)

    def search(self, request: Request) -> Response:
        table = self._table(request)
        payload = json_body(request)
        plan = plan_search(table, payload)
        ragged, plan = self._ragged_page(plan, payload)
        if ragged is not None:
            return ragged
        with self.store.lock:
            total, page, next_after = run_search(
                table,
                plan,
                cache=self.search_cache,
                version=self.store.version,
                unindexed=self.store.unindexed(table.object_type),
            )
            names = page_properties(plan.properties, DEFAULT_PROPERTIES[table.object_type])
            results = [self._record_json(table, r, names, None) for r in page]
        body: dict[str, Any] = {"total": total, "results": results}
        if next_after is not None:
            body["paging"] = {"next": {"after": str(next_after)}}
        self.stats.count_read(request.kind, len(results))
        if self.app.after_search is not None:
            self.app.after_search(table.object_type)
        return json_response(200, body)

    def _ragged_page(self, plan: SearchPlan, payload: object) -> tuple[Response | None, SearchPlan]:
        """With ``app.search_ragged_pages``, every third query that starts from the top answers
        one empty page whose cursor leads on to the records, and every third one a short page
        with a cursor (syncs "silently stopped fetching records" on empty pages that had a
        next cursor: airbytehq/airbyte#80744). Off by default: HubSpot documents neither."""
        if not self.app.search_ragged_pages:
            return None, plan
        first = not (isinstance(payload, Mapping) and payload.get("after") not in (None, ""))
        if not first:
            return None, plan
        self.app.search_queries += 1
        turn = self.app.search_queries % 3
        if turn == 1:
            body = {"total": 0, "results": [], "paging": {"next": {"after": str(plan.after)}}}
            return json_response(200, body), plan
        if turn == 2 and plan.limit > 1:
            return None, dataclasses.replace(plan, limit=max(1, plan.limit // 3))
        return None, plan

    def list_owners(self, request: Request) -> Response:
        limit = query_int(request, "limit", 100)
        if limit < 1 or limit > MAX_OWNERS_LIMIT:
            raise validation_error(f"limit must be between 1 and {MAX_OWNERS_LIMIT}, got {limit}.")
        after = query_int(request, "after", None)
        email = request.query_one("email")
        if query_flag(request, "archived"):
            owners = []
        else:
            owners = [
                o
                for o in self.store.owners
                if (after is None or o.id > after) and (email is None or o.email == email)
            ]
        page = owners[:limit]
        body: dict[str, Any] = {"results": [o.to_json() for o in page]}
        if len(owners) > limit:
            cursor = str(page[-1].id)
            body["paging"] = {"next": {"after": cursor, "link": page_link(request, cursor, limit)}}
        self.stats.count_read(request.kind, len(page))
        return json_response(200, body)

    def associations_batch_read(self, request: Request) -> Response:
        from_table = self._table(request, "from")
        to_table = self._table(request, "to")
        inputs = batch_inputs(json_body(request), MAX_ASSOCIATION_BATCH_INPUTS)
        started = iso_millis(self.store.clock())
        with self.store.lock:
            results, errors = self.associations.batch_read(
                from_table.object_type, to_table.object_type, [str(i.get("id", "")) for i in inputs]
            )
        self.stats.count_read(request.kind, sum(len(r["to"]) for r in results))
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso_millis(self.store.clock()),
        }
        if not errors:
            return json_response(200, body)
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return json_response(207, body)

    def associations_list(self, request: Request) -> Response:
        from_table = self._table(request, "from")
        to_table = self._table(request, "to")
        record = self._find(from_table, request.params["id"], archived=False)
        with self.store.lock:
            targets = self.associations.targets(
                from_table.object_type, to_table.object_type, record.id
            )
        self.stats.count_read(request.kind, len(targets))
        return json_response(200, {"results": targets})

    def _record_json(
        self,
        table: ObjectTable,
        record: CrmRecord,
        names: list[str],
        associations: list[str] | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(record.id),
            "properties": self.store.properties_of(table, record, names),
            "createdAt": iso_millis(record.created_at),
            "updatedAt": iso_millis(record.updated_at),
            "archived": record.archived_at is not None,
        }
        if record.archived_at is not None:
            body["archivedAt"] = iso_millis(record.archived_at)
        if associations:
            found = {}
            for raw in associations:
                target = canonical_object_type(raw)
                if target is None:
                    continue  # documented: unknown association types are ignored
                ids = self.associations.v3_ids(table.object_type, target, record.id)
                if ids:
                    found[target] = {"results": ids}
            if found:
                body["associations"] = found
        return body

    def _find(self, table: ObjectTable, raw_id: str, *, archived: bool) -> CrmRecord:
        record_id = parse_id(raw_id)
        record = table.records.get(record_id) if record_id is not None else None
        if record is None or (record.archived_at is not None) != archived:
            raise hubspot_error(
                404,
                "Object not found.  objectId are usually numeric.",
                "OBJECT_NOT_FOUND",
                context={"id": [raw_id]},
            )
        return record

    def _lookup(
        self, table: ObjectTable, raw_id: str, id_property: object, *, archived: bool
    ) -> CrmRecord | None:
        if id_property and id_property != "hs_object_id":
            name = str(id_property)
            for candidate in table.iter_from(None, archived=archived):
                if table.value(candidate, name) == raw_id:
                    return candidate
            return None
        record_id = parse_id(raw_id)
        record = table.records.get(record_id) if record_id is not None else None
        if record is None or (record.archived_at is not None) != archived:
            return None
        return record

    def _refuse_batch_with_invalid_values(
        self, registry: PropertyRegistry, inputs: list[Mapping[str, Any]]
    ) -> None:
        invalid: list[InvalidValue] = []
        for item in inputs:
            properties = item.get("properties")
            if isinstance(properties, Mapping):
                invalid.extend(self._check_values(registry, properties)[1])
        if invalid:
            raise validation_error(_invalid_message(invalid))

    @staticmethod
    def _check_values(
        registry: PropertyRegistry, properties: Mapping[str, object]
    ) -> tuple[dict[str, str | None], list[InvalidValue]]:
        checked: dict[str, str | None] = {}
        invalid: list[InvalidValue] = []
        for name, raw in properties.items():
            result = registry.normalize(str(name), raw)
            if isinstance(result, InvalidValue):
                invalid.append(result)
            else:
                checked[str(name)] = result
        return checked, invalid


def _invalid_message(invalid: list[InvalidValue]) -> str:
    # HubSpot embeds the list of failed checks as JSON in the message text.
    return "Property values were not valid: " + json.dumps([i.to_json() for i in invalid])


def _record_fault_error(fault: str, context: dict[str, list[str]]) -> dict[str, Any]:
    # Guessed: how HubSpot reports a record another write holds, or a transient failure.
    if fault == "lock":
        return record_error(
            "The record is being updated by another request; retry it.",
            "CONFLICT",
            context=context,
        )
    return record_error(
        "A temporary error occurred while updating this record; retry it.",
        "INTERNAL_ERROR",
        context=context,
    )
