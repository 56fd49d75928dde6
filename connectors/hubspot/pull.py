"""Pulling companies and deals page by page: first sync, incremental change sets, deletions.

First sync (``since`` None): the list endpoint, ``settings.list_page_size`` (100) per page. It
takes the wanted properties in the query string (``properties=a&properties=b...``); when that
would make the URI longer than ``settings.max_uri_length``, the list call asks for ids only and
one batch-read call per page (a POST, properties in the body) fetches the properties instead.

Incremental: search on the incremental window (``kam_sync_connectors.window``: modified from the
watermark minus the look-back to the run's start; ``search_windows.ChangeSetReader``), sorted
ascending, ``settings.search_page_size`` (200) per page.

Deletions: archived records (the list endpoint with ``archived=true``) come first, with their id
and modification stamp only (other fields and pseudo-fields None: associations of archived
records are not readable), ``"archived": True`` and the archiving time as their stamp. A full
pull lists them all; an incremental pull lists them every time (``archived_sweep_interval_hours``
0, the default) or when its window crosses a multiple of that interval, and keeps those archived
since the last sweep. Records merged away are not archived, they vanish (fivetran/dbt_hubspot#134): their
survivor's ``hs_merged_object_ids`` names them, and each comes as a deletion beside it. Live
records carry ``"archived": False``. Records deleted for good (after the 90-day restore window,
or a permanent/GDPR deletion) leave no trace at all: an incremental pull ends, once per
``id_reconciliation_days`` (7), with every live id (``Page.existing_ids``; one list call per 100
records, the id property only), and the engine drops the stored records not among them.

Watermarks: deletion pages and the pages of a first sync carry ``high_watermark=None`` except
the very last page of a first sync (list order is by id, not by modification, so no earlier
page may advance the watermark); incremental pages carry the running maximum stamp.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from hubspot.crm.objects.models import PublicObjectSearchRequest

from kam_sync_connectors.base import Page, PullRequest, RawRecord
from kam_sync_connectors.hubspot.associations import (
    AssociationField,
    AssociationFiller,
    association_field,
    is_association_field,
    read_associations,
)
from kam_sync_connectors.hubspot.calls import ApiCaller
from kam_sync_connectors.hubspot.sdk import HubSpotSdk
from kam_sync_connectors.hubspot.search_windows import (
    ChangeSetReader,
    FilterGroup,
    SearchResult,
    record_stamp,
    stamp_millis,
    to_millis,
)
from kam_sync_connectors.hubspot.settings import LIST_LIMIT, SEARCH_LIMIT, HubSpotSettings
from kam_sync_connectors.window import Boundary, IncrementalWindow, id_reconciliation_due

ARCHIVED_KEY = "archived"
# The record id as a property: the one property an id listing asks for.
ID_PROPERTY = "hs_object_id"
# The ids merged into a record, ";"-separated: a merged-away record is not archived, it just
# stops being returned (fivetran/dbt_hubspot#134, singer-io/tap-hubspot#49); only its
# survivor names it (developers.hubspot.com/docs/api-reference/legacy/crm/objects/companies/
# merge-companies; knowledge.hubspot.com/records/merge-records).
MERGED_IDS = "hs_merged_object_ids"

log = logging.getLogger(__name__)


class Puller:
    """Streams the pages of one pull request."""

    def __init__(self, caller: ApiCaller, sdk: HubSpotSdk, settings: HubSpotSettings) -> None:
        self.caller = caller
        self.sdk = sdk
        self.settings = settings
        self.last_reader: ChangeSetReader | None = None
        self.list_page_size = settings.list_page_size

    # -- entry point -------------------------------------------------------------------------

    def pull(self, request: PullRequest) -> Iterator[Page]:
        """The pages of ``request``, pseudo-fields read 1,000 records a call (associations.py)."""
        filler = AssociationFiller(
            self._associations_batch,
            request.object_name,
            [
                association_field(request.object_name, f)
                for f in request.fields
                if is_association_field(f)
            ],
            id_field=request.id_field,
            batch_size=self.settings.associations_batch_size,
            skip_key=ARCHIVED_KEY,
            in_flight=self.settings.association_reads_in_flight,
        )
        return filler.pages(self._pages(request))

    def _pages(self, request: PullRequest) -> Iterator[Page]:
        object_type = request.object_name
        # A page size asked for by the engine never exceeds what the endpoint takes.
        self.list_page_size = min(request.page_size or self.settings.list_page_size, LIST_LIMIT)
        properties = _properties(request)
        assoc_fields = [
            association_field(object_type, f) for f in request.fields if is_association_field(f)
        ]
        if self.settings.pull_archived and self._sweep_due(request):
            # A deletion needs only the record's id and stamp: ask for no other property.
            for objects in self._archived(request, [request.modified_field]):
                # Associations of archived records cannot be read (v4 answers "not found"
                # for them), so their pseudo-fields are None and cost no call.
                records = self._records(request, objects, [])
                for record, obj in zip(records, objects, strict=True):
                    for name in request.fields:
                        record.setdefault(name, None)
                    # The deletion is the record's latest change.
                    record[request.modified_field] = obj.get("archivedAt") or record.get(
                        request.modified_field
                    )
                yield Page(records=records, high_watermark=None)
        window = self._window(request)
        if not window.incremental:
            pages = self._list_pages(object_type, properties, archived=False)
        else:
            pages = self._changed_pages(request, properties)
        # The highest stamp read, and each record once at it (a search restarted at the cap).
        boundary: Boundary[int] = Boundary()
        held: Page | None = None
        for objects in pages:
            fresh = [
                obj
                for obj in objects
                if boundary.admit(str(obj["id"]), record_stamp(obj, request.modified_field))
            ]
            page = Page(records=self._records(request, fresh, []))
            for deletion, survivor in _merged_away(request, fresh, assoc_fields):
                page.records.append(deletion)
                page.merged_into[str(deletion[request.id_field])] = survivor
            if window.incremental:
                page.high_watermark = _from_millis(boundary.stamp)
                yield page
                continue
            if held is not None:
                yield held
            held = page
        if held is not None:
            held.high_watermark = _from_millis(boundary.stamp)
            yield held
        if id_reconciliation_due(request, self.settings.id_reconciliation_days):
            yield self._existing_ids(request)

    def _records(
        self,
        request: PullRequest,
        objects: list[dict[str, Any]],
        assoc_fields: list[AssociationField],
    ) -> list[RawRecord]:
        records = [self._record(request, obj) for obj in objects]
        for assoc in assoc_fields:
            self._add_association(request.object_name, assoc, records, objects)
        return records

    def _add_association(
        self,
        object_type: str,
        assoc: AssociationField,
        records: list[RawRecord],
        objects: list[dict[str, Any]],
    ) -> None:
        """Fill one pseudo-field for a page: one batch call (per 1,000 records)."""
        ids = [str(o["id"]) for o in objects]
        values: dict[str, Any] = {}
        step = self.settings.associations_batch_size
        for start in range(0, len(ids), step):
            chunk = ids[start : start + step]
            values.update(read_associations(self._associations_batch, object_type, assoc, chunk))
        for record, record_id in zip(records, ids, strict=True):
            record[assoc.name] = values.get(record_id)

    # -- record shapes -----------------------------------------------------------------------

    @staticmethod
    def _record(request: PullRequest, obj: dict[str, Any]) -> RawRecord:
        record: RawRecord = dict(obj.get("properties") or {})
        if MERGED_IDS not in request.fields:
            record.pop(MERGED_IDS, None)
        record[request.id_field] = str(obj["id"])
        if record.get(request.modified_field) is None and obj.get("updatedAt"):
            record[request.modified_field] = obj["updatedAt"]
        record[ARCHIVED_KEY] = bool(obj.get("archived", False))
        if request.deleted_field and request.deleted_field != ARCHIVED_KEY:
            record[request.deleted_field] = record[ARCHIVED_KEY]
        return record

    # -- first sync --------------------------------------------------------------------------

    def _list_pages(
        self,
        object_type: str,
        properties: list[str],
        *,
        archived: bool,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of the list endpoint (live or archived records), with ``properties``; those
        ``keep`` refuses are left out before any properties are fetched for them."""
        inline = self._uri_length(object_type, properties) <= self.settings.max_uri_length
        after: str | None = None
        while True:
            body = self._list(object_type, properties if inline else [], after, archived=archived)
            objects = [o for o in body.get("results") or [] if keep is None or keep(o)]
            if objects and not inline:
                ids = [str(o["id"]) for o in objects]
                objects = self._batch_read(object_type, ids, properties, archived=archived)
            if objects:
                yield objects
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def _uri_length(self, object_type: str, properties: Sequence[str]) -> int:
        base = f"{str(self.settings.base_url).rstrip('/')}/crm/v3/objects/{object_type}"
        fixed = f"?limit={LIST_LIMIT}&after=" + "9" * 20 + "&archived=false"
        return len(base) + len(fixed) + sum(len("&properties=") + len(quote(p)) for p in properties)

    def _list(
        self, object_type: str, properties: list[str], after: str | None, *, archived: bool
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"limit": self.list_page_size, "archived": archived}
        if properties:
            kwargs["properties"] = properties
        if after:
            kwargs["after"] = after
        return self.caller.call(
            "list", f"list {object_type}", self.sdk.objects_basic.get_page, object_type, **kwargs
        ).body

    def _batch_read(
        self, object_type: str, ids: list[str], properties: list[str], *, archived: bool
    ) -> list[dict[str, Any]]:
        # Bulk bodies go to the SDK as plain JSON-ready dicts: each generated model instance
        # deep-copies a Configuration (about 0.15 ms), which adds up over thousands of ids.
        request = {
            "inputs": [{"id": i} for i in ids],
            "properties": properties,
            "propertiesWithHistory": [],
        }
        body = self.caller.call(
            "batch_read",
            f"batch read {object_type}",
            self.sdk.objects_batch.read,
            object_type,
            request,
            archived=archived,
        ).body
        by_id = {str(o["id"]): o for o in body.get("results") or []}
        # The batch read answers in no particular order; keep the list's (id) order.
        return [by_id[i] for i in ids if i in by_id]

    # -- deletions ---------------------------------------------------------------------------

    def _sweep_due(self, request: PullRequest) -> bool:
        """Whether this pull lists archived records: a full pull always; an incremental one
        when a multiple of ``archived_sweep_interval_hours`` lies between the last complete
        pull (``previous_until``; else the watermark) and this one: on a portal where nothing
        changes the watermark stands still, and every run would sweep."""
        window = self._window(request)
        interval = self._sweep_interval_ms()
        if window.since is None or interval == 0:
            return True
        last = _last_pull(request, window.since)
        return to_millis(request.until) // interval > to_millis(last) // interval

    def _sweep_interval_ms(self) -> int:
        return int(self.settings.archived_sweep_interval_hours * 3_600_000)

    def _archived(
        self, request: PullRequest, properties: list[str]
    ) -> Iterator[list[dict[str, Any]]]:
        """Archived records; in an incremental pull only those archived since the last sweep
        (less the look-back). The list endpoint cannot filter, so every archived record is
        listed; the filter only spares the engine records it has already taken out.

        The last sweep ran in the first pull whose window crossed the last multiple of the
        interval at or before the watermark, and saw everything archived before it started.
        """
        window = self._window(request)
        since_ms: int | None = None
        if window.since is not None and window.start is not None:
            interval = self._sweep_interval_ms()
            since_ms = to_millis(window.start)
            if interval:
                look_back = to_millis(window.since) - since_ms
                last = to_millis(_last_pull(request, window.since))
                last_sweep = last // interval * interval
                since_ms = min(since_ms, last_sweep - look_back)

        def recent(obj: dict[str, Any]) -> bool:
            return since_ms is None or (_archived_ms(obj, request.modified_field) or 0) >= since_ms

        yield from self._list_pages(request.object_name, properties, archived=True, keep=recent)

    def _existing_ids(self, request: PullRequest) -> Page:
        """Every live id of the object, for the engine to drop the stored records not among
        them. Records deleted for good leave no trace in the archived list or in a survivor's
        ``hs_merged_object_ids``: deleted records can be restored for 90 days only, and
        permanent or GDPR deletions skip the recycle bin altogether (knowledge.hubspot.com/
        records/restore-deleted-records). Listed at the list endpoint's page size with one
        property, the id: one call per 100 records.
        """
        ids: set[str] = set()
        for objects in self._list_pages(request.object_name, [ID_PROPERTY], archived=False):
            ids.update(str(o["id"]) for o in objects)
        log.info("hubspot: id reconciliation: %d %s records exist", len(ids), request.object_name)
        return Page([], high_watermark=None, existing_ids=frozenset(ids))

    # -- incremental -------------------------------------------------------------------------

    def _window(self, request: PullRequest) -> IncrementalWindow:
        return IncrementalWindow.of(request, look_back_minutes=self.settings.look_back_minutes)

    def _changed_pages(
        self, request: PullRequest, properties: list[str]
    ) -> Iterator[list[dict[str, Any]]]:
        object_type = request.object_name
        wanted = properties

        def search(
            groups: list[FilterGroup], sort: str, after: str | None, limit: int
        ) -> SearchResult:
            search_request = PublicObjectSearchRequest(
                filter_groups=[{"filters": filters} for filters in groups],
                # The SDK types `sorts` as list[str]; the API takes sort objects.
                sorts=[{"propertyName": sort, "direction": "ASCENDING"}],
                properties=wanted,
                limit=limit,
                after=after,
            )
            body = self.caller.call(
                "search",
                f"search {object_type}",
                self.sdk.objects_search.do_search,
                object_type,
                search_request,
                search=True,
            ).body
            after_next = ((body.get("paging") or {}).get("next") or {}).get("after")
            return SearchResult(
                results=list(body.get("results") or []),
                after=str(after_next) if after_next else None,
                total=int(body.get("total") or 0),
            )

        reader = ChangeSetReader(
            search,
            modified_property=request.modified_field,
            id_property=ID_PROPERTY,
            page_size=min(request.page_size or self.settings.search_page_size, SEARCH_LIMIT),
            result_cap=self.settings.search_result_cap,
        )
        self.last_reader = reader
        start = self._window(request).start
        assert start is not None
        yield from reader.pages(to_millis(start), to_millis(request.until))

    # -- associations ------------------------------------------------------------------------

    def _associations_batch(
        self, from_type: str, to_type: str, inputs: list[tuple[str, str | None]]
    ) -> dict[str, Any]:
        request = {
            "inputs": [{"id": i, "after": after} if after else {"id": i} for i, after in inputs]
        }
        return self.caller.call(
            "associations",
            f"read {from_type} -> {to_type} associations",
            self.sdk.associations_batch.get_page,
            from_type,
            to_type,
            request,
        ).body


def _merged_away(
    request: PullRequest, objects: list[dict[str, Any]], assoc_fields: list[AssociationField]
) -> list[tuple[RawRecord, str]]:
    """A deletion for every id merged into a record of ``objects``, stamped with the
    survivor's modification (the merge is its latest change, or older), and the survivor's id."""
    deletions: list[tuple[RawRecord, str]] = []
    for obj in objects:
        props = obj.get("properties") or {}
        for part in str(props.get(MERGED_IDS) or "").split(";"):
            merged_id = part.strip()
            if not merged_id or merged_id == str(obj["id"]):
                continue
            record: RawRecord = dict.fromkeys(request.fields)
            record.update(dict.fromkeys(a.name for a in assoc_fields))
            record[request.id_field] = merged_id
            record[request.modified_field] = props.get(request.modified_field) or obj.get(
                "updatedAt"
            )
            record[ARCHIVED_KEY] = True
            if request.deleted_field and request.deleted_field != ARCHIVED_KEY:
                record[request.deleted_field] = True
            deletions.append((record, str(obj["id"])))
    return deletions


def _properties(request: PullRequest) -> list[str]:
    wanted = [f for f in request.fields if not is_association_field(f) and f != ARCHIVED_KEY]
    for must in (request.modified_field, MERGED_IDS):
        if must not in wanted:
            wanted.append(must)
    return list(dict.fromkeys(wanted))


def _last_pull(request: PullRequest, since: datetime) -> datetime:
    """When the last complete pull of the object ran: its ``until``, else the watermark."""
    return request.previous_until if request.previous_until is not None else since


def _archived_ms(obj: dict[str, Any], modified_property: str) -> int | None:
    return stamp_millis(obj.get("archivedAt")) or record_stamp(obj, modified_property)


def _from_millis(value: int | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)
