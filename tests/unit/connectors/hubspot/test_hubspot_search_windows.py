"""The change-set reader: past the search cap, with shared stamps, each record exactly once."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest

from kam_sync_connectors.hubspot.search_windows import (
    ChangeSetReader,
    SearchCursorError,
    SearchResult,
    stamp_millis,
)

Filter = dict[str, Any]


class FakeSearch:
    """An in-memory search endpoint: AND filters, one sort rule, offset paging up to a cap.

    Records with equal sort values come back in an order that is not by id and differs from
    one query to the next (but stays put while one query is paged, as offset paging needs).
    """

    def __init__(self, records: list[dict[str, Any]], cap: int, *, ties_by_id: bool) -> None:
        self.records = records
        self.cap = cap
        self.ties_by_id = ties_by_id
        self.calls: list[tuple[list[list[Filter]], str, str | None, int]] = []
        self.reader: ChangeSetReader | None = None

    def __call__(
        self, groups: list[list[Filter]], sort: str, after: str | None, limit: int
    ) -> SearchResult:
        self.calls.append((groups, sort, after, limit))
        offset = int(after or 0)
        assert offset + limit <= self.cap, "asked past the search cap"
        hits = [r for r in self.records if any(all(_matches(r, f) for f in g) for g in groups)]
        query = "" if self.ties_by_id else repr(groups)
        hits.sort(key=lambda r: (_value(r, sort), _scramble(query, r["id"])))
        page = hits[offset : offset + limit]
        more = offset + limit < len(hits)
        return SearchResult(page, str(offset + limit) if more else None, len(hits))


def _scramble(query: str, record_id: str) -> bytes | int:
    if not query:
        return int(record_id)
    return hashlib.sha1((query + record_id).encode()).digest()


def _value(record: dict[str, Any], name: str) -> int:
    if name == "hs_object_id":
        return int(record["id"])
    stamp = stamp_millis(record["properties"][name])
    assert stamp is not None
    return stamp


def _matches(record: dict[str, Any], f: Filter) -> bool:
    have = _value(record, f["propertyName"])
    if f["operator"] == "NOT_IN":
        return have not in {int(v) for v in f["values"]}
    want = int(f["value"])
    return {
        "EQ": have == want,
        "GT": have > want,
        "GTE": have >= want,
        "LTE": have <= want,
    }[f["operator"]]


def _records(stamps: list[int]) -> list[dict[str, Any]]:
    return [
        {"id": str(1000 + n), "properties": {"hs_lastmodifieddate": str(stamp)}}
        for n, stamp in enumerate(stamps)
    ]


def _read_all(
    records: list[dict[str, Any]],
    *,
    cap: int,
    page: int,
    since: int = 0,
    until: int = 10**12,
    ties_by_id: bool = False,
) -> tuple[list[str], FakeSearch]:
    search = FakeSearch(records, cap, ties_by_id=ties_by_id)
    reader = ChangeSetReader(
        search,
        modified_property="hs_lastmodifieddate",
        id_property="hs_object_id",
        page_size=page,
        result_cap=cap,
    )
    seen = [str(obj["id"]) for batch in reader.pages(since, until) for obj in batch]
    search.reader = reader
    return seen, search


def test_a_change_set_larger_than_the_cap_is_read_completely_and_once() -> None:
    records = _records([1_000 + n // 3 for n in range(500)])  # three records per stamp
    seen, _ = _read_all(records, cap=50, page=20)
    assert sorted(seen) == sorted(r["id"] for r in records)
    assert len(seen) == len(set(seen))


def test_thousands_of_identical_stamps_beyond_the_cap_are_read_once() -> None:
    # 700 records share one stamp, far more than the cap of 50; some before and after it.
    stamps = [10] * 30 + [20] * 700 + [30] * 40
    records = _records(stamps)
    random.Random(3).shuffle(records)
    for ties_by_id in (True, False):
        seen, _ = _read_all(records, cap=50, page=20, ties_by_id=ties_by_id)
        assert sorted(seen) == sorted(r["id"] for r in records)
        assert len(seen) == len(set(seen))


def test_a_bulk_edit_sharing_one_stamp_is_swept_by_id_rereading_at_most_the_key_and_a_page() -> (
    None
):
    records = _records([10] * 30 + [20] * 700 + [30] * 40)
    for ties_by_id in (True, False):
        seen, search = _read_all(records, cap=10_000, page=25, ties_by_id=ties_by_id)
        assert len(seen) == 770
        assert search.reader is not None and search.reader.sweeps > 0
        # 770 records in pages of 25 is 31 pages; the sweep of stamp 20 starts again from its
        # lowest id, after the key named 100 ids read at it and one more page was read.
        assert len(search.calls) <= 31 + (100 + 25) // 25 + 1


def test_equal_stamps_out_of_id_order_are_swept_by_id() -> None:
    records = _records([10] * 30 + [20] * 700 + [30] * 40)
    _, search = _read_all(records, cap=50, page=20, ties_by_id=False)
    assert search.reader is not None and search.reader.sweeps > 0
    assert any(sort == "hs_object_id" and limit > 1 for _, sort, _, limit in search.calls)


def test_the_window_honours_since_and_until() -> None:
    records = _records(list(range(100)))
    seen, _ = _read_all(records, cap=30, page=10, since=20, until=79)
    assert sorted(int(i) - 1000 for i in seen) == list(range(20, 80))


def test_a_change_set_under_the_cap_costs_one_call_per_page() -> None:
    records = _records(list(range(450)))
    seen, search = _read_all(records, cap=10_000, page=200)
    assert len(seen) == 450
    assert len(search.calls) == 3


def test_an_empty_change_set_costs_one_call() -> None:
    seen, search = _read_all([], cap=10_000, page=200)
    assert seen == []
    assert len(search.calls) == 1


def test_iso_and_millisecond_stamps_compare_alike() -> None:
    assert stamp_millis("2026-11-01T00:00:00Z") == stamp_millis("1793491200000")
    assert stamp_millis("2026-11-01T00:00:00.000Z") == 1_793_491_200_000


def test_no_page_is_asked_for_by_offset_once_records_were_read() -> None:
    records = _records([n // 4 for n in range(600)])
    _, search = _read_all(records, cap=10_000, page=50)
    assert all(after is None for _, _, after, _ in search.calls)


def test_records_edited_while_the_change_set_is_paged_skip_no_other_record() -> None:
    # After each page, a record already read is edited: its stamp moves past `until`, so it
    # leaves the result set and, with offset paging, every record behind it shifts down by one.
    records = _records(list(range(300)))
    by_id = {r["id"]: r for r in records}
    search = FakeSearch(records, 10_000, ties_by_id=True)
    reader = ChangeSetReader(
        search,
        modified_property="hs_lastmodifieddate",
        id_property="hs_object_id",
        page_size=20,
        result_cap=10_000,
    )
    seen: list[str] = []
    for batch in reader.pages(0, 1_000):
        seen.extend(str(obj["id"]) for obj in batch)
        by_id[seen[len(seen) // 2]]["properties"]["hs_lastmodifieddate"] = "5000"
    assert sorted(seen) == sorted(by_id)
    assert len(seen) == len(set(seen))


class EmptyPagesFirst(FakeSearch):
    """Answers the first pages of every query empty, each with a cursor to the next."""

    def __init__(self, records: list[dict[str, Any]], empty_pages: int) -> None:
        super().__init__(records, 10_000, ties_by_id=True)
        self.empty_pages = empty_pages

    def __call__(
        self, groups: list[list[Filter]], sort: str, after: str | None, limit: int
    ) -> SearchResult:
        hop = int(after or 0)
        if hop < self.empty_pages:
            self.calls.append((groups, sort, after, limit))
            return SearchResult([], str(hop + 1), len(self.records))
        found = super().__call__(groups, sort, None, limit)
        return found


def test_an_empty_page_with_a_next_cursor_does_not_end_the_read() -> None:
    records = _records(list(range(120)))
    search = EmptyPagesFirst(records, empty_pages=2)
    reader = ChangeSetReader(
        search,
        modified_property="hs_lastmodifieddate",
        id_property="hs_object_id",
        page_size=50,
        result_cap=10_000,
    )
    seen = [str(obj["id"]) for batch in reader.pages(0, 10**12) for obj in batch]
    assert sorted(seen) == sorted(r["id"] for r in records)


def test_a_cursor_offered_twice_on_empty_pages_is_an_error_not_an_endless_loop() -> None:
    def search(groups: list[list[Filter]], sort: str, after: str | None, limit: int) -> Any:
        return SearchResult([], "7", 10)

    reader = ChangeSetReader(
        search,
        modified_property="hs_lastmodifieddate",
        id_property="hs_object_id",
        page_size=50,
        result_cap=10_000,
    )
    with pytest.raises(SearchCursorError):
        list(reader.pages(0, 10))
