"""Related pseudo-fields from v4 association batch reads."""

from __future__ import annotations

from typing import Any

import pytest

from kam_sync_connectors.hubspot.associations import association_field, read_associations


def _types(*ids: int) -> list[dict[str, Any]]:
    return [{"category": "HUBSPOT_DEFINED", "typeId": i} for i in ids]


class FakeBatchRead:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.requests: list[tuple[str, str, list[tuple[str, str | None]]]] = []

    def __call__(
        self, from_type: str, to_type: str, inputs: list[tuple[str, str | None]]
    ) -> dict[str, Any]:
        self.requests.append((from_type, to_type, inputs))
        return self.pages.pop(0)


def test_a_deals_company_is_its_primary_company() -> None:
    read = FakeBatchRead(
        [
            {
                "results": [
                    {
                        "from": {"id": "1"},
                        "to": [
                            {"toObjectId": 7, "associationTypes": _types(341)},
                            {"toObjectId": 9, "associationTypes": _types(5, 341)},
                        ],
                    },
                    {
                        "from": {"id": "2"},
                        "to": [{"toObjectId": 8, "associationTypes": _types(341)}],
                    },
                ],
                "errors": [{"category": "OBJECT_NOT_FOUND", "context": {"ids": ["3"]}}],
            }
        ]
    )
    field = association_field("deals", "@associations.companies")
    values = read_associations(read, "deals", field, ["1", "2", "3"])
    assert values == {"1": "9", "2": "8", "3": None}
    assert len(read.requests) == 1
    assert read.requests[0][:2] == ("deals", "companies")


def test_a_companys_parent_is_the_child_to_parent_association() -> None:
    read = FakeBatchRead(
        [
            {
                "results": [
                    {
                        "from": {"id": "5"},
                        "to": [
                            {"toObjectId": "6", "associationTypes": _types(13)},  # a child of 5
                            {"toObjectId": "4", "associationTypes": _types(14)},  # 5's parent
                        ],
                    }
                ]
            }
        ]
    )
    field = association_field("companies", "@associations.parent_company")
    assert read_associations(read, "companies", field, ["5", "6"]) == {"5": "4", "6": None}


def test_associations_past_the_first_page_are_read_with_the_cursor() -> None:
    read = FakeBatchRead(
        [
            {
                "results": [
                    {
                        "from": {"id": "5"},
                        "to": [{"toObjectId": "6", "associationTypes": _types(13)}],
                        "paging": {"next": {"after": "abc"}},
                    }
                ]
            },
            {
                "results": [
                    {
                        "from": {"id": "5"},
                        "to": [{"toObjectId": "4", "associationTypes": _types(14)}],
                    }
                ]
            },
        ]
    )
    field = association_field("companies", "@associations.parent_company")
    assert read_associations(read, "companies", field, ["5"]) == {"5": "4"}
    assert read.requests[1][2] == [("5", "abc")]


def _parents(inputs: list[tuple[str, str | None]]) -> dict[str, Any]:
    return {
        "results": [
            {
                "from": {"id": i},
                "to": [{"toObjectId": int(i) + 1000, "associationTypes": _types(14)}],
            }
            for i, _ in inputs
        ]
    }


def test_the_filler_reads_a_batch_per_1000_records_and_hands_pages_on_in_order() -> None:
    from kam_sync_connectors.base import Page
    from kam_sync_connectors.hubspot.associations import AssociationFiller

    calls: list[int] = []

    def read(_from: str, _to: str, inputs: list[tuple[str, str | None]]) -> dict[str, Any]:
        calls.append(len(inputs))
        return _parents(inputs)

    field = association_field("companies", "@associations.parent_company")
    filler = AssociationFiller(read, "companies", [field], id_field="id", batch_size=1000)
    pages = [
        Page(records=[{"id": str(p * 100 + i), "archived": False} for i in range(100)])
        for p in range(25)
    ]
    pages[3].records[0]["archived"] = True  # archived: no read, value kept
    pages[3].records[0][field.name] = None
    out = list(filler.pages(iter(pages)))
    assert out == pages
    assert calls == [1000, 1000, 499]
    assert pages[24].records[99][field.name] == str(2499 + 1000)
    assert pages[3].records[0][field.name] is None


def test_the_filler_yields_nothing_before_its_batch_is_read() -> None:
    from kam_sync_connectors.base import Page
    from kam_sync_connectors.hubspot.associations import AssociationFiller

    calls: list[int] = []

    def read(_from: str, _to: str, inputs: list[tuple[str, str | None]]) -> dict[str, Any]:
        calls.append(len(inputs))
        return _parents(inputs)

    field = association_field("companies", "@associations.parent_company")
    filler = AssociationFiller(read, "companies", [field], id_field="id", batch_size=3, in_flight=0)
    stream = filler.pages(
        iter([Page(records=[{"id": "1"}, {"id": "2"}]), Page(records=[{"id": "3"}, {"id": "4"}])])
    )
    first = next(stream)
    assert calls == [3] and first.records[1][field.name] == "1002"
    second = next(stream)
    assert calls == [3, 1] and second.records[1][field.name] == "1004"


def _company_pages(count: int, size: int = 100) -> list[Any]:
    from kam_sync_connectors.base import Page

    return [
        Page(records=[{"id": str(p * size + i), "archived": False} for i in range(size)])
        for p in range(count)
    ]


def test_an_association_read_is_under_way_while_the_next_pages_are_fetched() -> None:
    import threading

    from kam_sync_connectors.hubspot.associations import AssociationFiller

    pages = _company_pages(25)
    fetched_beyond_first_batch = threading.Event()
    overlapped: list[bool] = []

    def stream() -> Any:
        for n, page in enumerate(pages):
            if n == 12:  # two pages past the first batch of 1,000 records
                fetched_beyond_first_batch.set()
            yield page

    def read(_from: str, _to: str, inputs: list[tuple[str, str | None]]) -> dict[str, Any]:
        if not overlapped:
            # Read in turn, the stream is stuck here and page 12 never comes.
            overlapped.append(fetched_beyond_first_batch.wait(timeout=5))
        return _parents(inputs)

    field = association_field("companies", "@associations.parent_company")
    filler = AssociationFiller(
        read, "companies", [field], id_field="id", batch_size=1000, in_flight=1
    )
    out = list(filler.pages(stream()))
    assert overlapped == [True]
    assert out == pages
    assert all(r[field.name] == str(int(r["id"]) + 1000) for p in out for r in p.records)


def test_reads_in_flight_hand_every_page_on_in_order_once_filled() -> None:
    import random
    import time

    from kam_sync_connectors.hubspot.associations import AssociationFiller

    calls: list[int] = []
    draw = random.Random(3)

    def read(_from: str, _to: str, inputs: list[tuple[str, str | None]]) -> dict[str, Any]:
        time.sleep(draw.random() / 100)  # reads end out of the order they began
        calls.append(len(inputs))
        return _parents(inputs)

    field = association_field("companies", "@associations.parent_company")
    filler = AssociationFiller(
        read, "companies", [field], id_field="id", batch_size=70, in_flight=3
    )
    pages = _company_pages(9, size=37)
    seen = []
    for page in filler.pages(iter(pages)):
        assert all(r[field.name] == str(int(r["id"]) + 1000) for r in page.records)
        seen.append(page)
    assert seen == pages
    assert sorted(calls) == sorted([70] * 4 + [53])


def test_a_failed_association_read_ends_the_stream_with_its_error() -> None:
    from kam_sync_connectors.hubspot.associations import AssociationFiller

    def read(_from: str, _to: str, inputs: list[tuple[str, str | None]]) -> dict[str, Any]:
        raise RuntimeError("read refused")

    field = association_field("companies", "@associations.parent_company")
    filler = AssociationFiller(
        read, "companies", [field], id_field="id", batch_size=100, in_flight=1
    )
    with pytest.raises(RuntimeError, match="read refused"):
        list(filler.pages(iter(_company_pages(5))))


def test_closing_the_stream_waits_for_the_reads_under_way() -> None:
    import threading
    import time

    from kam_sync_connectors.hubspot.associations import AssociationFiller

    begun = threading.Event()
    started: list[int] = []
    ended: list[int] = []

    def read(_from: str, _to: str, inputs: list[tuple[str, str | None]]) -> dict[str, Any]:
        started.append(1)
        begun.set()
        time.sleep(0.2)
        ended.append(1)
        return _parents(inputs)

    field = association_field("companies", "@associations.parent_company")
    filler = AssociationFiller(
        read, "companies", [field], id_field="id", batch_size=100, in_flight=2
    )

    def stream() -> Any:
        yield from _company_pages(2)
        begun.wait(timeout=5)
        yield from _company_pages(3)

    pages = filler.pages(stream())
    next(pages)
    pages.close()  # later pages were being read
    assert len(started) >= 2
    assert len(ended) == len(started)  # every read begun had ended when close returned
    time.sleep(0.3)
    assert len(started) == len(ended)  # and none began after it
