"""Reading a change set of any size through CRM search, past its 10,000-result cap, exactly once.

HubSpot's search pages through at most 10,000 results of one query (paging past them is a 400:
developers.hubspot.com/docs/api/crm/search, "Limitations"; community.hubspot.com thread
"CRM Record ID Sequencing and the Search API"), and the reader relies on one sort rule only
(the sandbox, after issue 3, refuses more). So the change set is read in *windows* sorted by the
modification stamp, ascending:

    first window       modified >= since AND modified <= until
    restart (M, I)     (modified > M AND modified <= until) OR (modified == M AND id > I)

When a window reaches the cap, ``M`` is the last stamp read and ``I`` the highest id read at
``M``; the next window restarts from ``(M, I)``. That is exact when every record stamped ``M``
with an id up to ``I`` has been read, i.e. when equal stamps come back in id order. HubSpot does
not document the order of equal stamps, so before restarting the reader checks it with one
search (``modified == M AND id <= I``, one result asked for) whose ``total`` must equal the
number of ids read at ``M``. If it does not, the records stamped ``M`` are swept by id instead
(``modified == M AND id > last``, sorted by id, skipping ids already read, restarting after
the last id whenever the sweep itself reaches the cap) and the next window starts strictly
after ``M``. Either way nothing is read twice and nothing is skipped, even with thousands of
equal stamps, as long as one query keeps its order while it is paged (which offset paging
needs anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kam_sync_connectors.window import Boundary

Filter = dict[str, str]
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
    ) -> None:
        self._search = search
        self.modified_property = modified_property
        self.id_property = id_property
        self.page_size = page_size
        self.result_cap = result_cap
        self.windows = 0
        self.checks = 0
        self.sweeps = 0
        self._last_paged_capped = False

    def _filter(self, name: str, operator: str, value: int | str) -> Filter:
        return {"propertyName": name, "operator": operator, "value": str(value)}

    def pages(self, since_ms: int, until_ms: int) -> Iterator[list[dict[str, Any]]]:
        modified = self.modified_property
        until = self._filter(modified, "LTE", until_ms)
        groups: list[FilterGroup] = [[self._filter(modified, "GTE", since_ms), until]]
        # The last stamp read and every id read at it, across windows.
        boundary: Boundary[int] = Boundary()
        while True:
            self.windows += 1
            for results in self._paged(groups, modified):
                for obj in results:
                    boundary.admit(str(obj["id"]), record_stamp(obj, modified))
                if results:
                    yield results
            stamp = boundary.stamp
            if not self._last_paged_capped or stamp is None:
                return
            ids_at_stamp = boundary.ids
            highest = max(ids_at_stamp, key=_id_number)
            if self._all_read_up_to(stamp, highest, len(ids_at_stamp)):
                groups = [
                    [self._filter(modified, "GT", stamp), until],
                    [
                        self._filter(modified, "EQ", stamp),
                        self._filter(self.id_property, "GT", highest),
                    ],
                ]
                continue
            yield from self._sweep_stamp(stamp, ids_at_stamp)
            groups = [[self._filter(modified, "GT", stamp), until]]
            boundary = Boundary()

    def _paged(self, groups: list[FilterGroup], sort: str) -> Iterator[list[dict[str, Any]]]:
        """Pages of one query; sets ``_last_paged_capped`` when it stopped at the cap."""
        self._last_paged_capped = False
        after: str | None = None
        read = 0
        while True:
            limit = min(self.page_size, self.result_cap - read)
            found = self._search(groups, sort, after, limit)
            read += len(found.results)
            yield found.results
            if found.after is None or not found.results:
                return
            if read >= self.result_cap:
                self._last_paged_capped = True
                return
            after = found.after

    def _all_read_up_to(self, stamp: int, highest: str, read_count: int) -> bool:
        """Whether exactly ``read_count`` records are stamped ``stamp`` with id <= ``highest``."""
        self.checks += 1
        found = self._search(
            [
                [
                    self._filter(self.modified_property, "EQ", stamp),
                    self._filter(self.id_property, "LTE", highest),
                ]
            ],
            self.id_property,
            None,
            1,
        )
        return found.total == read_count

    def _sweep_stamp(self, stamp: int, already_read: set[str]) -> Iterator[list[dict[str, Any]]]:
        """Every record stamped exactly ``stamp`` not in ``already_read``, by ascending id."""
        above_id: str | None = None
        while True:
            self.sweeps += 1
            group = [self._filter(self.modified_property, "EQ", stamp)]
            if above_id is not None:
                group.append(self._filter(self.id_property, "GT", above_id))
            last_results: list[dict[str, Any]] = []
            for results in self._paged([group], self.id_property):
                fresh = [obj for obj in results if str(obj["id"]) not in already_read]
                if fresh:
                    yield fresh
                if results:
                    last_results = results
            if not self._last_paged_capped:
                return
            above_id = str(last_results[-1]["id"])
