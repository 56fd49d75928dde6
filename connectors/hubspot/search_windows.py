"""Reading a change set of any size through CRM search, past its 10,000-result cap, exactly once.

HubSpot's search pages through at most 10,000 results of one query (asking beyond that is a
400; developers.hubspot.com/docs/api/crm/search, "Limitations") and takes one sort rule. So
the change set is read in *windows*: ``modified >= lower AND modified <= until``, sorted by the
modification stamp ascending. When a window reaches the cap, every record stamped before the
last stamp seen (``M``) has been read, but records stamped exactly ``M`` may be only partly read,
and there may be more than 10,000 of them (a bulk import stamps thousands alike). They are
swept by id instead: ``modified == M AND hs_object_id > last id``, sorted by id, skipping the
ids the window already gave, restarting after the last id whenever the sweep itself reaches
the cap. The next window then starts strictly after ``M``. Nothing is read twice and nothing is
skipped, whatever the order of equal stamps, as long as one query keeps its order while it is
paged (which offset paging needs anyway); it need not be by id, nor the same between queries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

Filter = dict[str, str]
# (filters ANDed, sort property, paging cursor or None, page size) -> (results, next cursor)
SearchPage = Callable[[list[Filter], str, str | None, int], tuple[list[dict[str, Any]], str | None]]


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
        self.sweeps = 0

    def pages(self, since_ms: int, until_ms: int) -> Iterator[list[dict[str, Any]]]:
        lower_op, lower = "GTE", since_ms
        while True:
            self.windows += 1
            filters = [
                {"propertyName": self.modified_property, "operator": lower_op, "value": str(lower)},
                {"propertyName": self.modified_property, "operator": "LTE", "value": str(until_ms)},
            ]
            last_stamp: int | None = None
            ids_at_last_stamp: set[str] = set()
            after: str | None = None
            read = 0
            while True:
                limit = min(self.page_size, self.result_cap - read)
                results, after = self._search(filters, self.modified_property, after, limit)
                read += len(results)
                for obj in results:
                    stamp = record_stamp(obj, self.modified_property)
                    if stamp != last_stamp:
                        last_stamp, ids_at_last_stamp = stamp, set()
                    ids_at_last_stamp.add(str(obj["id"]))
                if results:
                    yield results
                if after is None or not results:
                    return
                if read >= self.result_cap:
                    break
            if last_stamp is None:  # cannot happen with results read; guards the loop
                return
            yield from self._sweep_stamp(last_stamp, ids_at_last_stamp)
            lower_op, lower = "GT", last_stamp

    def _sweep_stamp(self, stamp: int, already_read: set[str]) -> Iterator[list[dict[str, Any]]]:
        """Every record stamped exactly ``stamp`` not in ``already_read``, by ascending id."""
        above_id: str | None = None
        while True:
            self.sweeps += 1
            filters = [
                {"propertyName": self.modified_property, "operator": "EQ", "value": str(stamp)}
            ]
            if above_id is not None:
                filters.append(
                    {"propertyName": self.id_property, "operator": "GT", "value": above_id}
                )
            after: str | None = None
            read = 0
            while True:
                limit = min(self.page_size, self.result_cap - read)
                results, after = self._search(filters, self.id_property, after, limit)
                read += len(results)
                fresh = [obj for obj in results if str(obj["id"]) not in already_read]
                if fresh:
                    yield fresh
                if after is None or not results:
                    return
                if read >= self.result_cap:
                    above_id = str(results[-1]["id"])
                    break
