"""Write-back: checks before sending, 207 parsing by objectWriteTraceId, batching, bisecting."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kam_sync.errors import FatalApiError, QuotaExhaustedError, RetriableApiError
from kam_sync_connectors.base import NOT_SENT, FieldDescription, RecordUpdate
from kam_sync_connectors.hubspot.push import (
    BatchWriter,
    batches,
    check_update,
    parse_batch_response,
)
from kam_sync_connectors.hubspot.wire import to_hubspot_value
from kam_sync_connectors.quota import DAILY_BUDGET

PROPERTIES = {
    "kam_tier": FieldDescription(
        name="kam_tier",
        label="KAM tier",
        type="enumeration",
        updateable=True,
        picklist_values=("strategic", "key", "emerging", "watchlist", "none"),
    ),
    "kam_flags": FieldDescription(
        name="kam_flags",
        label="KAM flags",
        type="enumeration",
        updateable=True,
        picklist_values=("over_cap", "growth_alert"),
    ),
    "kam_score": FieldDescription(name="kam_score", label="Score", type="number", updateable=True),
    "hs_object_id": FieldDescription(
        name="hs_object_id", label="Id", type="number", updateable=False
    ),
}


def test_an_enumeration_value_outside_the_options_is_refused_before_sending() -> None:
    result = check_update(RecordUpdate("1", {"kam_tier": "gold"}), PROPERTIES, None)
    assert result is not None
    assert (result.ok, result.error_code, result.fields) == (False, "INVALID_OPTION", ("kam_tier",))


def test_every_value_of_a_multi_select_is_checked() -> None:
    ok = check_update(
        RecordUpdate("1", {"kam_flags": ["over_cap", "growth_alert"]}), PROPERTIES, None
    )
    bad = check_update(RecordUpdate("1", {"kam_flags": "over_cap;waitlisted"}), PROPERTIES, None)
    assert ok is None
    assert bad is not None and "waitlisted" in (bad.message or "")


def test_unknown_read_only_and_non_target_properties_are_refused() -> None:
    unknown = check_update(RecordUpdate("1", {"kam_nope": "1"}), PROPERTIES, None)
    read_only = check_update(RecordUpdate("1", {"hs_object_id": "2"}), PROPERTIES, None)
    not_target = check_update(
        RecordUpdate("1", {"kam_score": "2"}), PROPERTIES, frozenset({"kam_tier"})
    )
    assert unknown is not None and unknown.error_code == "UNKNOWN_PROPERTY"
    assert read_only is not None and read_only.error_code == "READ_ONLY_PROPERTY"
    assert not_target is not None and not_target.error_code == "NOT_A_WRITE_BACK_TARGET"


def test_a_value_that_does_not_fit_the_property_type_is_refused_before_sending() -> None:
    props = {
        **PROPERTIES,
        "kam_last_assessed": FieldDescription(
            name="kam_last_assessed", label="x", type="datetime", updateable=True
        ),
    }
    bad_number = check_update(RecordUpdate("1", {"kam_score": "high"}), props, None)
    bad_date = check_update(RecordUpdate("1", {"kam_last_assessed": "yesterday"}), props, None)
    fine = check_update(
        RecordUpdate("1", {"kam_score": Decimal("12.5"), "kam_last_assessed": datetime.now(UTC)}),
        props,
        None,
    )
    cleared = check_update(RecordUpdate("1", {"kam_score": None}), props, None)
    assert bad_number is not None and bad_number.error_code == "INVALID_VALUE"
    assert bad_date is not None and bad_date.error_code == "INVALID_VALUE"
    assert fine is None and cleared is None


def test_values_are_sent_as_hubspot_strings() -> None:
    assert to_hubspot_value(Decimal("55.50")) == "55.50"
    assert to_hubspot_value(None) == ""
    assert to_hubspot_value(True) == "true"
    assert to_hubspot_value(["a", "b"]) == "a;b"
    assert to_hubspot_value(datetime(2026, 11, 1, tzinfo=UTC)) == "1793491200000"


def _inputs(*ids: str) -> list[dict[str, Any]]:
    return [
        {"id": rid, "properties": {"kam_tier": "key"}, "objectWriteTraceId": f"t{n}"}
        for n, rid in enumerate(ids)
    ]


def test_a_207_is_matched_back_by_object_write_trace_id() -> None:
    inputs = _inputs("10", "11", "12", "13")
    body = {
        "status": "COMPLETE",
        "results": [
            {"id": "12", "objectWriteTraceId": "t2", "properties": {}},
            {"id": "10", "objectWriteTraceId": "t0", "properties": {}},
        ],
        "numErrors": 2,
        "errors": [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "gone",
                "context": {"ids": ["11"], "objectWriteTraceId": ["t1"]},
            },
            {
                "status": "error",
                "category": "CONFLICT",
                "message": "locked",
                "context": {"objectWriteTraceId": ["t3"]},
            },
        ],
    }
    results = parse_batch_response(inputs, body)
    assert [(r.record_id, r.ok, r.error_code, r.retriable) for r in results] == [
        ("10", True, None, False),
        ("11", False, "OBJECT_NOT_FOUND", False),
        ("12", True, None, False),
        ("13", False, "CONFLICT", True),
    ]


def test_errors_without_a_trace_id_are_matched_by_record_id() -> None:
    inputs = _inputs("10", "11")
    body = {
        "results": [{"id": "10"}],
        "errors": [{"category": "VALIDATION_ERROR", "context": {"ids": ["11"]}}],
    }
    results = parse_batch_response(inputs, body)
    assert [(r.ok, r.error_code) for r in results] == [(True, None), (False, "VALIDATION_ERROR")]


def test_a_record_the_answer_does_not_mention_fails_retriably() -> None:
    results = parse_batch_response(_inputs("10", "11"), {"results": [{"objectWriteTraceId": "t0"}]})
    assert (results[1].ok, results[1].error_code, results[1].retriable) == (
        False,
        "NO_RESULT",
        True,
    )


def test_batches_hold_at_most_the_size_and_never_one_id_twice() -> None:
    items = [(n, RecordUpdate(str(n % 150), {"kam_score": n})) for n in range(250)]
    chunks = list(batches(items, 100))
    assert [len(c) for c in chunks] == [100, 100, 50]
    for chunk in chunks:
        ids = [u.record_id for _, u in chunk]
        assert len(ids) == len(set(ids))


class FakeBatchEndpoint:
    """Rejects a whole batch with 400 when it holds a poisoned id, as HubSpot does."""

    def __init__(self, poisoned: set[str], error: Exception | None = None) -> None:
        self.poisoned = poisoned
        self.error = error
        self.calls = 0

    def __call__(self, inputs: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if any(i["id"] in self.poisoned for i in inputs):
            raise FatalApiError("bad", status=400, error_code="VALIDATION_ERROR")
        return 200, {
            "results": [
                {"id": i["id"], "objectWriteTraceId": i["objectWriteTraceId"]} for i in inputs
            ]
        }


def _updates(n: int) -> list[tuple[int, RecordUpdate]]:
    return [(i, RecordUpdate(str(i), {"kam_score": i})) for i in range(n)]


def test_a_batch_rejected_whole_is_split_until_the_bad_record_is_alone() -> None:
    endpoint = FakeBatchEndpoint({"37"})
    results = BatchWriter(endpoint, 100).write(_updates(100))
    failed = [r.record_id for r in results.values() if not r.ok]
    assert failed == ["37"]
    assert endpoint.calls <= 1 + 2 * 7


def test_a_batch_that_keeps_failing_transiently_fails_every_record_retriably() -> None:
    endpoint = FakeBatchEndpoint(set(), RetriableApiError("503", status=503))
    results = BatchWriter(endpoint, 100).write(_updates(3))
    assert all(not r.ok and r.retriable for r in results.values())


def test_a_spent_quota_marks_the_rest_not_sent_without_more_calls() -> None:
    endpoint = FakeBatchEndpoint(set(), QuotaExhaustedError("done", error_code=DAILY_BUDGET))
    writer = BatchWriter(endpoint, 100)
    results = writer.write(_updates(250))
    assert endpoint.calls == 1
    assert {r.error_code for r in results.values()} == {NOT_SENT}
    assert writer.stopped_by_quota is not None


def test_a_writer_asked_to_stop_sends_no_batch_after_the_one_in_flight() -> None:
    endpoint = FakeBatchEndpoint(set())
    writer = BatchWriter(endpoint, 100, should_stop=lambda: True)
    results = writer.write(_updates(250))
    assert endpoint.calls == 1
    assert sum(r.ok for r in results.values()) == 100
    assert {r.error_code for r in results.values() if not r.ok} == {NOT_SENT}
    assert writer.interrupted


class SlowBatchEndpoint(FakeBatchEndpoint):
    """Answers after ``seconds``, counting how many batches are under way at once."""

    def __init__(self, seconds: float, error_on_call: int | None = None) -> None:
        super().__init__(set())
        import threading

        self.seconds = seconds
        self.error_on_call = error_on_call
        self.lock = threading.Lock()
        self.under_way = 0
        self.most_at_once = 0
        self.spans: list[tuple[float, float, set[str]]] = []

    def __call__(self, inputs: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        import time

        with self.lock:
            self.calls += 1
            call = self.calls
            self.under_way += 1
            self.most_at_once = max(self.most_at_once, self.under_way)
        began = time.monotonic()
        time.sleep(self.seconds)
        with self.lock:
            self.under_way -= 1
            self.spans.append((began, time.monotonic(), {str(i["id"]) for i in inputs}))
        if call == self.error_on_call:
            raise QuotaExhaustedError("done", error_code=DAILY_BUDGET)
        return 200, {
            "results": [
                {"id": i["id"], "objectWriteTraceId": i["objectWriteTraceId"]} for i in inputs
            ]
        }


def test_batches_go_out_several_at_once_up_to_the_in_flight_bound() -> None:
    endpoint = SlowBatchEndpoint(0.05)
    results = BatchWriter(endpoint, 100, in_flight=4).write(_updates(800))
    assert endpoint.calls == 8
    assert endpoint.most_at_once == 4
    assert len(results) == 800 and all(r.ok for r in results.values())


def test_one_batch_at_a_time_by_default() -> None:
    endpoint = SlowBatchEndpoint(0.01)
    BatchWriter(endpoint, 100).write(_updates(300))
    assert endpoint.most_at_once == 1


def test_a_record_written_twice_is_not_sent_again_while_its_first_batch_is_under_way() -> None:
    endpoint = SlowBatchEndpoint(0.05)
    items = [
        (0, RecordUpdate("a", {"kam_score": 1})),
        (1, RecordUpdate("b", {"kam_score": 1})),
        (2, RecordUpdate("a", {"kam_score": 2})),  # a second batch: one id once per batch
        (3, RecordUpdate("c", {"kam_score": 2})),
    ]
    results = BatchWriter(endpoint, 100, in_flight=4).write(items)
    assert all(r.ok for r in results.values())
    first, second = sorted(s for s in endpoint.spans if "a" in s[2])
    assert second[0] >= first[1]  # the later value of "a" left only after the earlier one


def test_a_quota_stop_while_batches_are_under_way_sends_nothing_more() -> None:
    endpoint = SlowBatchEndpoint(0.05, error_on_call=1)
    writer = BatchWriter(endpoint, 100, in_flight=3)
    results = writer.write(_updates(1000))
    assert writer.stopped_by_quota is not None
    # The batches already under way when the first failed ended with their own results.
    assert endpoint.calls <= 3
    sent_ok = sum(r.ok for r in results.values())
    assert sent_ok == 100 * (endpoint.calls - 1)
    assert sum(r.error_code == NOT_SENT for r in results.values()) == 1000 - sent_ok
