"""The change-set reader: past the search cap, with shared stamps, each record exactly once."""

from __future__ import annotations

import hashlib
import random
from typing import Any

from kam_sync_connectors.hubspot.search_windows import ChangeSetReader, stamp_millis

Filter = dict[str, str]


class FakeSearch:
    """An in-memory search endpoint: AND filters, one sort rule, offset paging up to a cap.

    Records with equal sort values come back in an order that is not by id and differs from
    one query to the next (but stays put while one query is paged, as offset paging needs).
    """

    def __init__(self, records: list[dict[str, Any]], cap: int) -> None:
        self.records = records
        self.cap = cap
        self.calls: list[tuple[list[Filter], str, str | None, int]] = []

    def __call__(
        self, filters: list[Filter], sort: str, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        self.calls.append((filters, sort, after, limit))
        offset = int(after or 0)
        assert offset + limit <= self.cap, "asked past the search cap"
        hits = [r for r in self.records if all(_matches(r, f) for f in filters)]
        query = repr(filters)
        hits.sort(key=lambda r: (_value(r, sort), _scramble(query, r["id"])))
        page = hits[offset : offset + limit]
        more = offset + limit < len(hits)
        return page, (str(offset + limit) if more else None)


def _scramble(query: str, record_id: str) -> bytes:
    return hashlib.sha1((query + record_id).encode()).digest()


def _value(record: dict[str, Any], name: str) -> int:
    if name == "hs_object_id":
        return int(record["id"])
    stamp = stamp_millis(record["properties"][name])
    assert stamp is not None
    return stamp


def _matches(record: dict[str, Any], f: Filter) -> bool:
    have, want = _value(record, f["propertyName"]), int(f["value"])
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
    records: list[dict[str, Any]], *, cap: int, page: int, since: int = 0, until: int = 10**12
) -> tuple[list[str], FakeSearch]:
    search = FakeSearch(records, cap)
    reader = ChangeSetReader(
        search,
        modified_property="hs_lastmodifieddate",
        id_property="hs_object_id",
        page_size=page,
        result_cap=cap,
    )
    seen = [str(obj["id"]) for batch in reader.pages(since, until) for obj in batch]
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
    seen, search = _read_all(records, cap=50, page=20)
    assert sorted(seen) == sorted(r["id"] for r in records)
    assert len(seen) == len(set(seen))
    id_sorted = [c for c in search.calls if c[1] == "hs_object_id"]
    assert id_sorted, "the shared stamp was swept by id"


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
