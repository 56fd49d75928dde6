"""Related pseudo-fields read through the v4 associations batch API, 1,000 records a call.

Pseudo-fields a mapping may name (the rest of kam-sync sees them as ordinary raw keys):

``@associations.companies`` (on deals)
    The id of the deal's company: the one associated with type 5 ("Deal with Primary
    Company") if there is one, else the lowest associated company id; None if none.
``@associations.parent_company`` (on companies)
    The id of the company's parent company: the company-to-company association of type 14
    ("child company to parent company"; HubSpot changelog 2018-09-11, "Parent <-> Child
    Associations": 13 is parent to child, 14 child to parent); None if none.
``@associations.<object type>`` (any other)
    The ids of all associated records of that type, ascending, as a list of strings.

Request (developers.hubspot.com/docs/api-reference/legacy/crm/associations/associate-records/
batch/get-associations): ``POST /crm/v4/associations/{from}/{to}/batch/read`` with
``{"inputs": [{"id": ...}]}``, at most 1,000 inputs (``settings.associations_batch_size``);
the response lists ``{"from": {"id"}, "to": [{"toObjectId", "associationTypes": [{"typeId"}]}],
"paging"}`` per record, and 207 with ``errors`` for records that have none or do not exist.
A record whose associations run to more than one page is asked again with its ``after``.

Calls: ``AssociationFiller`` holds pages back until 1,000 records (``associations_batch_size``)
wait for a pseudo-field, then reads them in one call and hands the pages on in their order;
so a pull of N live records costs ceil(N / 1,000) association calls per pseudo-field, not one
per page of 100 (list) or 200 (search). At most one batch of records is held in memory, plus one
per read in flight (``settings.association_reads_in_flight``, default 1: each read is sent
while the pull goes on fetching pages).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kam_sync_connectors.base import Page

ASSOCIATION_PREFIX = "@associations."
DEAL_TO_PRIMARY_COMPANY = 5
CHILD_TO_PARENT_COMPANY = 14

# (from type, to type, [(id, after or None)]) -> response body
BatchRead = Callable[[str, str, list[tuple[str, str | None]]], dict[str, Any]]
# A batch's values: pseudo-field name -> record id -> value
_Values = dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class AssociationField:
    """One pseudo-field: what to read and how to reduce it to a value."""

    name: str
    to_object_type: str
    kind: str  # "primary_company" | "parent_company" | "all"


def association_field(object_type: str, name: str) -> AssociationField:
    suffix = name.removeprefix(ASSOCIATION_PREFIX)
    if suffix == "parent_company":
        return AssociationField(name, "companies", "parent_company")
    if suffix == "companies" and object_type == "deals":
        return AssociationField(name, "companies", "primary_company")
    return AssociationField(name, suffix, "all")


def is_association_field(name: str) -> bool:
    return name.startswith(ASSOCIATION_PREFIX)


def read_associations(
    batch_read: BatchRead,
    object_type: str,
    field: AssociationField,
    record_ids: Sequence[str],
) -> dict[str, Any]:
    """The pseudo-field's value for each record id (every id present, None/[] if none)."""
    links: dict[str, list[tuple[str, set[int]]]] = {rid: [] for rid in record_ids}
    pending: list[tuple[str, str | None]] = [(rid, None) for rid in record_ids]
    while pending:
        body = batch_read(object_type, field.to_object_type, pending)
        pending = []
        for result in body.get("results") or []:
            from_id = str((result.get("from") or {}).get("id"))
            for target in result.get("to") or []:
                types = hubspot_defined_type_ids(target)
                links.setdefault(from_id, []).append((str(target.get("toObjectId")), types))
            after = ((result.get("paging") or {}).get("next") or {}).get("after")
            if after:
                pending.append((from_id, str(after)))
    return {rid: _reduce(field, targets) for rid, targets in links.items()}


def hubspot_defined_type_ids(target: dict[str, Any]) -> set[int]:
    """The HubSpot-defined association type ids of one associated record.

    A user-defined label has its own type id, numbered in its own space, so it can equal a
    HubSpot-defined one (5, 14); only ``category: HUBSPOT_DEFINED`` makes 5 "Primary" and 14
    "child to parent" (developers.hubspot.com/docs/api/crm/associations, "Association type id
    values": every type carries ``category`` HUBSPOT_DEFINED, USER_DEFINED or
    INTEGRATOR_DEFINED). A type without a category is read as HubSpot-defined.
    """
    return {
        int(t["typeId"])
        for t in target.get("associationTypes") or []
        if t.get("typeId") is not None and t.get("category", "HUBSPOT_DEFINED") == "HUBSPOT_DEFINED"
    }


def _reduce(field: AssociationField, targets: list[tuple[str, set[int]]]) -> Any:
    if field.kind == "all":
        return sorted({tid for tid, _ in targets}, key=_id_key)
    if field.kind == "parent_company":
        parents = sorted(
            (tid for tid, types in targets if CHILD_TO_PARENT_COMPANY in types), key=_id_key
        )
        return parents[0] if parents else None
    primary = sorted(
        (tid for tid, types in targets if DEAL_TO_PRIMARY_COMPANY in types), key=_id_key
    )
    if primary:
        return primary[0]
    anyone = sorted({tid for tid, _ in targets}, key=_id_key)
    return anyone[0] if anyone else None


def _id_key(value: str) -> tuple[int, str]:
    return (int(value), value) if value.isdigit() else (1 << 62, value)


class AssociationFiller:
    """Fills the pseudo-fields of streamed pages, ``batch_size`` record ids per batch call.

    Pages come out in the order they went in, each once every pseudo-field of its records is
    filled. Records with ``skip_key`` true (archived ones: HubSpot reads no associations for
    them) keep the values they carry and cost nothing.

    With ``in_flight`` above 0 a batch read is sent from a worker thread while the pages after
    it are still being fetched, at most ``in_flight`` reads at once: an association read then
    costs no wall time of its own where the pages come from search (its own per-second limit)
    or from a CRM slower to answer than the rate limit allows. 0 reads each batch in turn,
    between two pages. Either way a page is handed on only once its records are filled, and
    closing the stream waits for the reads under way, so no call is made after it is closed.
    """

    def __init__(
        self,
        batch_read: BatchRead,
        object_type: str,
        fields: Sequence[AssociationField],
        *,
        id_field: str,
        batch_size: int,
        skip_key: str = "archived",
        in_flight: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"association batch size must be >= 1, got {batch_size}")
        if in_flight < 0:
            raise ValueError(f"association reads in flight must be >= 0, got {in_flight}")
        self.batch_read = batch_read
        self.object_type = object_type
        self.fields = list(fields)
        self.id_field = id_field
        self.batch_size = batch_size
        self.skip_key = skip_key
        self.in_flight = in_flight

    def pages(self, pages: Iterable[Page]) -> Iterator[Page]:
        if not self.fields:
            yield from pages
            return
        held: deque[list[Any]] = deque()  # [page, how many of its records wait]
        waiting: list[tuple[Page, int]] = []  # (page, record index) not yet read
        reads: deque[tuple[Future[_Values], list[tuple[Page, int]]]] = deque()
        workers = (
            ThreadPoolExecutor(self.in_flight, thread_name_prefix="hubspot associations")
            if self.in_flight
            else None
        )
        try:
            for page in pages:
                todo = [i for i, r in enumerate(page.records) if not r.get(self.skip_key)]
                held.append([page, len(todo)])
                waiting.extend((page, i) for i in todo)
                while len(waiting) >= self.batch_size:
                    batch = waiting[: self.batch_size]
                    del waiting[: self.batch_size]
                    if workers is None:
                        self._apply(batch, self._read(self._ids(batch)), held)
                        continue
                    reads.append((workers.submit(self._read, self._ids(batch)), batch))
                    while len(reads) > self.in_flight:  # wait for the oldest read
                        future, done = reads.popleft()
                        self._apply(done, future.result(), held)
                while reads and reads[0][0].done():  # those read already, without waiting
                    future, done = reads.popleft()
                    self._apply(done, future.result(), held)
                yield from _ready(held)
            if waiting:
                self._apply(waiting, self._read(self._ids(waiting)), held)
            while reads:
                future, done = reads.popleft()
                self._apply(done, future.result(), held)
            yield from _ready(held)
            while held:
                yield held.popleft()[0]
        finally:
            if workers is not None:
                # A read under way ends before the stream does; one not yet begun is dropped.
                workers.shutdown(wait=True, cancel_futures=True)

    def _ids(self, batch: list[tuple[Page, int]]) -> list[str]:
        return [str(page.records[i][self.id_field]) for page, i in batch]

    def _read(self, ids: list[str]) -> _Values:
        """Every pseudo-field's value for ``ids`` (no page is touched here: this may run in a
        worker thread while the pages belong to the stream's)."""
        return {
            field.name: read_associations(self.batch_read, self.object_type, field, ids)
            for field in self.fields
        }

    def _apply(
        self, batch: list[tuple[Page, int]], values: _Values, held: deque[list[Any]]
    ) -> None:
        for field_name, by_id in values.items():
            for page, i in batch:
                page.records[i][field_name] = by_id.get(str(page.records[i][self.id_field]))
        done: dict[int, int] = {}
        for page, _ in batch:
            done[id(page)] = done.get(id(page), 0) + 1
        for entry in held:
            if id(entry[0]) in done:
                entry[1] -= done[id(entry[0])]


def _ready(held: deque[list[Any]]) -> Iterator[Page]:
    """The held pages at the front whose records are all filled."""
    while held and held[0][1] == 0:
        page: Page = held.popleft()[0]
        yield page
