"""Run compiled queries: sorted views of the tables, key lookups, child subqueries.

The sorted views and child groupings are cached per table version, so paging through a
100,000-account pull sorts once, and a write makes the next query re-sort.
"""

from __future__ import annotations

import bisect
import operator
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kam_sync.sandbox.salesforce.query import ChildQuery, CompiledQuery, SortKey
from kam_sync.sandbox.salesforce.store import Record, SalesforceStore


class SortedViews:
    """Tables sorted by a query's ORDER BY, cached until the table changes.

    A nightly pull sorts 100,000 accounts the same way page after page and run after run;
    sorting once per table version keeps a query page well under 100 ms. The leading sort
    key of every record is kept too, for range conditions on it (`bisect`).
    """

    def __init__(self, store: SalesforceStore, max_entries: int = 16) -> None:
        self.store = store
        self.max_entries = max_entries
        self._cache: dict[tuple[Any, ...], _View] = {}
        self._lock = threading.Lock()

    def records(self, compiled: CompiledQuery) -> tuple[Sequence[Record], list[Any] | None]:
        """The object's records (deleted included) in the query's order, and leading keys."""
        view = self._view(compiled)
        return view.ordered, view.keys

    def live(self, compiled: CompiledQuery) -> tuple[list[Record], list[Any] | None]:
        """The records that are not deleted, in the query's order, and their leading keys.

        Both lists are shared: callers must not modify them.
        """
        view = self._view(compiled)
        if view.live is None:
            alive = [i for i, r in enumerate(view.ordered) if not r["IsDeleted"]]
            keys = view.keys
            view.live_keys = None if keys is None else [keys[i] for i in alive]
            view.live = [view.ordered[i] for i in alive]
        return view.live, view.live_keys

    def _view(self, compiled: CompiledQuery) -> _View:
        store = self.store
        name = compiled.schema.name
        tables = store.tooling_tables if compiled.tooling else store.tables
        table = tables[name.lower()]
        key = (compiled.tooling, name.lower(), compiled.sort_signature)
        version = store.table_version(name, tooling=compiled.tooling)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached.version == version and len(cached.ordered) == len(table):
            return cached
        ordered = sort_records(list(table.values()), compiled.sort_keys)
        keys = None
        if compiled.sort_keys:
            lead = compiled.sort_keys[0]
            lead_key: Callable[[Record], Any] = (
                operator.itemgetter(lead.always_set) if lead.always_set else _sort_key(lead)
            )
            keys = list(map(lead_key, ordered))
        view = _View(version, ordered, keys)
        with self._lock:
            if len(self._cache) >= self.max_entries:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = view
        return view


@dataclass(slots=True)
class _View:
    version: int
    ordered: list[Record]
    keys: list[Any] | None  # the leading sort key of each record, for `bisect`
    live: list[Record] | None = None  # the records not deleted, computed on first use
    live_keys: list[Any] | None = None


class ChildIndex:
    """Child records grouped by parent id, cached until the child table changes."""

    def __init__(self, store: SalesforceStore) -> None:
        self.store = store
        self._cache: dict[tuple[str, str], tuple[int, dict[str, list[Record]]]] = {}
        self._lock = threading.Lock()

    def by_parent(self, child_object: str, reference_field: str) -> dict[str, list[Record]]:
        """`{parent id: [child records]}` (deleted ones included)."""
        key = (child_object.lower(), reference_field)
        version = self.store.table_version(child_object)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        groups: dict[str, list[Record]] = {}
        for record in self.store.table(child_object).values():
            parent = record.get(reference_field)
            if parent is not None:
                groups.setdefault(parent, []).append(record)
        with self._lock:
            self._cache[key] = (version, groups)
        return groups


def child_blocks(
    child: ChildQuery,
    index: ChildIndex,
    render: Callable[[Record], dict[str, Any]],
    *,
    include_deleted: bool,
    batch_size: int | None = None,
    open_cursor: Callable[[list[Record], int], str] | None = None,
) -> Callable[[str], dict[str, Any] | None]:
    """A function from a parent id to its subquery result (None when it has no children).

    With ``batch_size`` and ``open_cursor``, a child set larger than the batch comes back as its
    first batch, ``done: false`` and a ``nextRecordsUrl`` (``open_cursor(records, served)``
    keeps the rest), as Salesforce pages large child sets: "Subquery results are like regular
    query results in that you might need to use queryMore() to retrieve all the records if
    there are many children" (SOQL and SOSL Reference, "Understanding Query Results").
    """
    groups = index.by_parent(child.compiled.schema.name, child.reference_field)
    predicate = child.compiled.predicate
    sort_keys = child.compiled.sort_keys
    limit = child.compiled.query.limit

    def block(parent_id: str) -> dict[str, Any] | None:
        rows = groups.get(parent_id)
        if not rows:
            return None
        matched = [
            r
            for r in rows
            if (include_deleted or not r["IsDeleted"]) and (predicate is None or predicate(r))
        ]
        sort_records(matched, sort_keys)
        if limit is not None:
            matched = matched[:limit]
        if not matched:
            return None
        if batch_size is not None and open_cursor is not None and len(matched) > batch_size:
            return {
                "totalSize": len(matched),
                "done": False,
                "nextRecordsUrl": open_cursor(matched, batch_size),
                "records": [render(r) for r in matched[:batch_size]],
            }
        return {"totalSize": len(matched), "done": True, "records": [render(r) for r in matched]}

    return block


def _bounds(keys: list[Any], ranges: list[tuple[str, Any]], *, raw: bool) -> tuple[int, int]:
    # Raw keys are plain values; other keys are (rank, value) with rank 1 for values, and
    # nulls (rank 0 or 2) never match a range.
    if raw:
        start, end = 0, len(keys)
    else:
        start = bisect.bisect_left(keys, (1,))
        end = bisect.bisect_left(keys, (2,))
    for op, value in ranges:
        probe = value if raw else (1, value)
        if op == ">":
            start = max(start, bisect.bisect_right(keys, probe))
        elif op == ">=":
            start = max(start, bisect.bisect_left(keys, probe))
        elif op == "<":
            end = min(end, bisect.bisect_left(keys, probe))
        else:
            end = min(end, bisect.bisect_right(keys, probe))
    return start, max(start, end)


def _by_id(compiled: CompiledQuery, store: SalesforceStore, ids: list[str]) -> list[Record]:
    tables = store.tooling_tables if compiled.tooling else store.tables
    table = tables[compiled.schema.name.lower()]
    return sort_records([table[i] for i in sorted(set(ids)) if i in table], compiled.sort_keys)


def run_query(
    compiled: CompiledQuery, views: SortedViews, *, include_deleted: bool
) -> list[Record]:
    """All matching records in order, after OFFSET and LIMIT."""
    records: Sequence[Record]
    keys: list[Any] | None = None
    predicate = compiled.predicate
    # Without a residual predicate the cached views answer directly: `query` reads the
    # live view and `queryAll` the full one, each sliced by any leading range.
    served_by_view = compiled.id_lookup is None and predicate is None
    if compiled.id_lookup is not None:
        records = _by_id(compiled, views.store, compiled.id_lookup)
    elif served_by_view and not include_deleted:
        records, keys = views.live(compiled)
    else:
        records, keys = views.records(compiled)
    if compiled.leading_ranges:
        assert keys is not None
        raw = compiled.sort_keys[0].always_set is not None
        start, end = _bounds(keys, compiled.leading_ranges, raw=raw)
        records = records[start:end]
    if served_by_view:
        matched = records if isinstance(records, list) else list(records)
    elif include_deleted:
        matched = [r for r in records if predicate(r)] if predicate else list(records)
    else:
        matched = [r for r in records if not r["IsDeleted"] and (predicate is None or predicate(r))]
    offset = compiled.query.offset or 0
    limit = compiled.query.limit
    if offset or limit is not None:
        matched = matched[offset : None if limit is None else offset + limit]
    return matched


def sort_records(records: list[Record], sort_keys: Sequence[SortKey]) -> list[Record]:
    """Sort in place by ORDER BY keys and return the list.

    When every key runs the same direction one pass with a composite key suffices; tables
    are kept in modification order, so for incremental pulls that pass is near linear.
    Keys every record has are read with `itemgetter`.
    """
    if not sort_keys:
        return records
    directions = {k.descending for k in sort_keys}
    if len(directions) == 1:
        reverse = sort_keys[0].descending
        names = [k.always_set for k in sort_keys]
        if all(names):
            records.sort(key=operator.itemgetter(*names), reverse=reverse)
        elif len(sort_keys) == 1:
            records.sort(key=_sort_key(sort_keys[0]), reverse=reverse)
        else:
            functions = [_sort_key(k) for k in sort_keys]
            records.sort(key=lambda r: tuple(f(r) for f in functions), reverse=reverse)
        return records
    for item in reversed(sort_keys):
        records.sort(key=_sort_key(item), reverse=item.descending)
    return records


def _sort_key(item: SortKey) -> Callable[[Record], tuple[Any, ...]]:
    getter = item.getter
    # Nulls get a rank that lands them first or last after the (possibly reversed) sort.
    null_rank = 2 if item.nulls_last != item.descending else 0

    if item.is_text:

        def text_key(r: Record) -> tuple[Any, ...]:
            v = getter(r)
            return (null_rank,) if v is None else (1, v.lower())

        return text_key

    def key(r: Record) -> tuple[Any, ...]:
        v = getter(r)
        return (null_rank,) if v is None else (1, v)

    return key
