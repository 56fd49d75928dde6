"""Reading a change set of any size through CRM search by key, each record exactly once.

HubSpot's search ``after`` cursor is an offset into the sorted result set (airbytehq/airbyte
#80745 converts it with ``int(after)``), and a query is evaluated again for every page. A record
edited while a change set is paged gets a stamp past ``until`` and leaves the result set; every
record behind it shifts down by one, and the one at the page boundary is never read. So the
reader never pages by offset across pages that hold records: each page is a fresh query (no
``after``) that starts after the last key read, sorted by the modification stamp ascending
(search takes one sort rule: developers.hubspot.com/docs/api/crm/search, "Sorting"):

    first page         modified >= since AND modified <= until
    next page (M, S)   (modified > M AND modified <= until) OR (modified == M AND id NOT_IN S)

``M`` is the last stamp read and ``S`` every id read at ``M`` (filter groups are ORed, filters
in a group ANDed: two groups of two filters, inside every limit HubSpot has published, the
smallest being 3 groups of 3 filters before the changelog "Expanded Filtering Capabilities and
Error Messaging in HubSpot's Search API", 2024-08-26). ``NOT_IN`` makes
the key exact whatever order equal stamps come back in (HubSpot does not document the order of
equal sort values). When more than ``key_ids_limit`` ids share ``M`` (a bulk edit), the records
stamped ``M`` are swept by id instead, also by key (``modified == M AND id > last``, sorted by
id; those already read are dropped, so at most ``key_ids_limit`` plus a page are read twice),
and reading goes on strictly after ``M``.

An empty page that still offers ``paging.next.after`` is not the end: its cursor is followed
(syncs "silently stopped fetching records" on such pages: airbytehq/airbyte#80744). A page of
records with a cursor, however short, is followed by the next key. The 10,000-result cap of one
query (paging past it is a 400: developers.hubspot.com/docs/api/crm/search, "Limitations") is
never reached, since every query reads one page, unless empty pages run up to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kam_sync.errors import FatalApiError
from kam_sync_connectors.window import Boundary

Filter = dict[str, Any]
FilterGroup = list[Filter]


@dataclass(slots=True)
class SearchResult:
    results: list[dict[str, Any]]
    after: str | None
    total: int


# (filter groups, ORed; filters in a group ANDed), sort property, cursor, page size -> result
SearchPage = Callable[[list[FilterGroup], str, str | None, int], SearchResult]


def to_millis(moment: datetime) -> int:
    """Epoch milliseconds, the form HubSpot's search filters take for date-time properties."""
    return int(moment.astimezone(UTC).timestamp() * 1000)


def stamp_millis(value: Any) -> int | None:
    """A HubSpot date-time value (ISO-8601 or epoch milliseconds) as epoch milliseconds."""
    if value is None or value == "":
        return None
    text = str(value)
    if text.isdigit():
        return int(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_millis(moment)


def record_stamp(obj: dict[str, Any], modified_property: str) -> int | None:
    props = obj.get("properties") or {}
    return stamp_millis(props.get(modified_property) or obj.get("updatedAt"))


def _id_number(record_id: str) -> int:
    return int(record_id)


class SearchCursorError(FatalApiError):
    """A search offered the same ``after`` cursor twice, or one past the result cap."""


# How many ids one NOT_IN filter names before the reader sweeps the stamp by id instead.
# Guessed, not documented: the search guide gives no count for IN/NOT_IN values; 100 stays well
# inside any request-size limit (a filter of 100 record ids is about 1.5 kB).
KEY_IDS_LIMIT = 100


class ChangeSetReader:
    """Yields pages of search results for ``since <= modified <= until``, each record once."""

    def __init__(
        self,
        search: SearchPage,
        *,
        modified_property: str,
        id_property: str,
        page_size: int,
        result_cap: int,
        key_ids_limit: int = KEY_IDS_LIMIT,
    ) -> None:
        self._search = search
        self.modified_property = modified_property
        self.id_property = id_property
        self.page_size = page_size
        self.result_cap = result_cap
        self.key_ids_limit = key_ids_limit
        # Queries sent for pages (one per key), and sweeps of one stamp by id.
        self.windows = 0
        self.sweeps = 0

    def _filter(self, name: str, operator: str, value: int | str) -> Filter:
        return {"propertyName": name, "operator": operator, "value": str(value)}

    def pages(self, since_ms: int, until_ms: int) -> Iterator[list[dict[str, Any]]]:
        modified = self.modified_property
        until = self._filter(modified, "LTE", until_ms)
        groups: list[FilterGroup] = [[self._filter(modified, "GTE", since_ms), until]]
        # The last stamp read and every id read at it, across pages.
        boundary: Boundary[int] = Boundary()
        while True:
            self.windows += 1
            results, more = self._page(groups, modified)
            for obj in results:
                boundary.admit(str(obj["id"]), record_stamp(obj, modified))
            if results:
                yield results
            stamp = boundary.stamp
            if not more or stamp is None:
                return
            ids_at_stamp = boundary.ids
            if len(ids_at_stamp) <= self.key_ids_limit:
                groups = [
                    [self._filter(modified, "GT", stamp), until],
                    [
                        self._filter(modified, "EQ", stamp),
                        {
                            "propertyName": self.id_property,
                            "operator": "NOT_IN",
                            "values": sorted(ids_at_stamp, key=_id_number),
                        },
                    ],
                ]
                continue
            yield from self._sweep_stamp(stamp, ids_at_stamp)
            groups = [[self._filter(modified, "GT", stamp), until]]
            boundary = Boundary()

    def _page(self, groups: list[FilterGroup], sort: str) -> tuple[list[dict[str, Any]], bool]:
        """The first page of one query holding records (an empty page with a cursor is
        followed), and whether the query matches more than it returned."""
        after: str | None = None
        offered: set[str] = set()
        while True:
            found = self._search(groups, sort, after, self.page_size)
            if found.results or found.after is None:
                return found.results, found.after is not None
            if found.after in offered or _past_cap(found.after, self.result_cap):
                raise SearchCursorError(
                    "hubspot search offered a cursor it had offered before, or one past the "
                    f"{self.result_cap}-result cap, on empty pages; the change set cannot be read",
                    connector="hubspot",
                )
            offered.add(found.after)
            after = found.after

    def _sweep_stamp(self, stamp: int, already_read: set[str]) -> Iterator[list[dict[str, Any]]]:
        """Every record stamped exactly ``stamp`` not in ``already_read``, by ascending id, one
        query per page starting after the last id read."""
        above_id: str | None = None
        while True:
            self.sweeps += 1
            group = [self._filter(self.modified_property, "EQ", stamp)]
            if above_id is not None:
                group.append(self._filter(self.id_property, "GT", above_id))
            results, more = self._page([group], self.id_property)
            fresh = [obj for obj in results if str(obj["id"]) not in already_read]
            if fresh:
                yield fresh
            if not more or not results:
                return
            above_id = str(results[-1]["id"])


def _past_cap(after: str, cap: int) -> bool:
    return after.isdigit() and int(after) >= cap
