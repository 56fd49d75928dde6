"""Bulk API 2.0 bounds and REQUEST_LIMIT_EXCEEDED's two meanings, without a server."""

from __future__ import annotations

import itertools

import pytest

from kam_sync.errors import QuotaExhaustedError, RetriableApiError
from kam_sync_connectors.salesforce import bulk
from kam_sync_connectors.salesforce.error_map import for_status


@pytest.mark.parametrize(
    "message",
    [
        "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
        "ConcurrentPerOrgLongTxn Limit exceeded.",
    ],
)
def test_a_concurrency_limit_is_a_retriable_error_not_a_spent_quota(message: str) -> None:
    body = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": message}]

    error = for_status(403, body, what="query Account")

    assert isinstance(error, RetriableApiError)
    assert not isinstance(error, QuotaExhaustedError)


def test_the_daily_request_limit_is_a_spent_quota() -> None:
    body = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]

    assert isinstance(for_status(403, body, what="query Account"), QuotaExhaustedError)


def test_bulk_polls_wait_one_second_then_double_up_to_thirty() -> None:
    waits = list(itertools.islice(bulk.poll_waits(1.0, 30.0), 8))

    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_an_hour_long_job_takes_a_few_hundred_status_calls_at_most() -> None:
    waited, calls = 0.0, 0
    for wait in bulk.poll_waits(1.0, 30.0):
        if waited >= 3600:
            break
        waited += wait
        calls += 1

    assert calls < 130  # a fixed 2 s took 1,800


def test_bulk_csv_cells_are_cut_at_the_bulk_field_limit() -> None:
    rows = [{"Id": "001000000000001AAA", "Text__c": "z" * 40_000, "Short__c": "ok"}]
    chunks = bulk.update_csv_chunks(rows, ["Short__c", "Text__c"], 10**8)

    ids, body = next(chunks)
    text = body.read().decode()
    chunks.close()

    assert ids == ["001000000000001AAA"]
    assert bulk.BULK_MAX_FIELD_CHARS == 32_000
    assert ("z" * 32_000) in text and ("z" * 32_001) not in text
    assert ",ok," in text


def test_an_id_reconciliation_is_due_on_the_first_pull_after_each_period_boundary() -> None:
    from datetime import UTC, datetime, timedelta

    from kam_sync_connectors.window import reconciliation_due

    boundary = datetime.fromtimestamp(7 * 86_400 * 2950, UTC)  # a 7-day boundary
    hour = timedelta(hours=1)

    assert reconciliation_due(boundary - hour, boundary + hour, 7)
    assert not reconciliation_due(boundary + hour, boundary + 2 * hour, 7)
    assert not reconciliation_due(boundary - hour, boundary + hour, 0)  # switched off
    assert not reconciliation_due(None, boundary, 7)  # a full pull reads everything anyway
