"""Conformance: every registered connector writes back, fails, stops and retries alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kam_sync.errors import QuotaExhaustedError
from kam_sync.sandbox.runner import SandboxHandle
from kam_sync_connectors.base import (
    NOT_SENT,
    Connector,
    PushStoppedError,
    RecordUpdate,
    WriteResult,
)
from tests.conformance.conftest import (
    DAILY_API_LIMIT,
    WRITE_BATCH,
    CrmAdapter,
    records,
    write_requests,
)

ACCOUNTS = 120


@pytest.fixture
def provisioned(crm: CrmAdapter) -> Iterator[tuple[SandboxHandle, list[str]]]:
    """A sandbox whose account object has the suite's write-back field, and its account ids."""
    with crm.sandbox(accounts=ACCOUNTS, seed=41) as sandbox:
        report = crm.connector(sandbox).provision([crm.tier])
        assert not report.problems, report.problems
        yield sandbox, crm.live_ids(sandbox)


def _updates(crm: CrmAdapter, ids: list[str]) -> list[RecordUpdate]:
    return [RecordUpdate(i, {crm.tier.name: crm.tier_value}) for i in ids]


def _written(crm: CrmAdapter, sandbox: SandboxHandle, record_id: str) -> bool:
    return bool(crm.stored(sandbox, record_id, crm.tier.name) == crm.tier_value)


def _assert_results_match_the_crm(
    crm: CrmAdapter, sandbox: SandboxHandle, ids: list[str], results: list[WriteResult]
) -> None:
    assert [r.record_id for r in results] == ids, "one result per update, in order"
    for result in results:
        assert _written(crm, sandbox, result.record_id) == result.ok, result


def test_a_push_returns_one_result_per_update_in_order_and_writes_every_record(
    crm: CrmAdapter, provisioned: tuple[SandboxHandle, list[str]]
) -> None:
    sandbox, ids = provisioned
    results = crm.connector(sandbox).push(crm.account_object, _updates(crm, ids))

    _assert_results_match_the_crm(crm, sandbox, ids, results)
    assert all(r.ok for r in results)


def test_partial_write_failures_fail_only_their_records_and_the_rest_is_written(
    crm: CrmAdapter, provisioned: tuple[SandboxHandle, list[str]]
) -> None:
    sandbox, ids = provisioned
    sandbox.set_faults("write:partial=0.2")
    # no retry round for transient record failures, so the failures reach the results
    connector = crm.connector(sandbox, **crm.no_record_retries)

    results = connector.push(crm.account_object, _updates(crm, ids))

    _assert_results_match_the_crm(crm, sandbox, ids, results)
    failed = [r for r in results if not r.ok]
    assert 0 < len(failed) < len(ids)
    assert all(r.error_code and r.error_code != NOT_SENT for r in failed)


def test_a_quota_stop_mid_push_reports_what_was_written_and_the_rest_not_sent(
    crm: CrmAdapter, provisioned: tuple[SandboxHandle, list[str]]
) -> None:
    sandbox, ids = provisioned
    # One batch at a time: a batch in flight is sent before the answers of the ones beside it
    # report the account's usage, so with several in flight the line may be passed by up to
    # that many calls less one (README, "Pacing"; a unit test of BatchWriter covers that case).
    one_at_a_time = {"write_requests_in_flight": 1} if crm.crm == "hubspot" else {}
    connector = crm.connector(sandbox, quota_stop_at_percent=80, **one_at_a_time)
    connector.check_quota()
    connector.push(crm.account_object, _updates(crm, ids[:1]))  # reads what a push needs first
    # The account is one call short of its 80% stop line: one batch goes, then the push stops.
    sandbox.set_faults(f"quota={DAILY_API_LIMIT - DAILY_API_LIMIT * 80 // 100 + 1}")
    rest = ids[1:]

    with pytest.raises(PushStoppedError) as caught:
        connector.push(crm.account_object, _updates(crm, rest))

    stop = caught.value
    assert stop.reason == "quota"
    assert isinstance(stop.cause, QuotaExhaustedError) and stop.cause.exit_code == 4
    _assert_results_match_the_crm(crm, sandbox, rest, stop.results)
    sent = [r for r in stop.results if r.error_code != NOT_SENT]
    assert len(sent) == WRITE_BATCH, "exactly the batch in flight went out"
    assert all(r.ok for r in sent)
    assert stop.results[: len(sent)] == sent
    assert all(not r.ok and r.retriable for r in stop.results[len(sent) :])


def test_a_push_asked_to_stop_finishes_the_batch_in_flight_and_sends_no_more(
    crm: CrmAdapter, provisioned: tuple[SandboxHandle, list[str]]
) -> None:
    sandbox, ids = provisioned
    asked: list[int] = []

    def stop_at_the_second_question() -> bool:
        asked.append(len(asked))
        return len(asked) >= 2

    with pytest.raises(PushStoppedError) as caught:
        crm.connector(sandbox).push(
            crm.account_object, _updates(crm, ids), should_stop=stop_at_the_second_question
        )

    stop = caught.value
    assert stop.reason == "interrupted" and stop.cause is None
    _assert_results_match_the_crm(crm, sandbox, ids, stop.results)
    # asked before the second and third batch: two batches were written, nothing after
    assert len(asked) == 2
    assert [r.ok for r in stop.results] == [True] * (2 * WRITE_BATCH) + [False] * (
        len(ids) - 2 * WRITE_BATCH
    )
    assert {r.error_code for r in stop.results if not r.ok} == {NOT_SENT}


def test_locked_records_are_retried_until_they_are_written(
    crm: CrmAdapter, provisioned: tuple[SandboxHandle, list[str]]
) -> None:
    sandbox, ids = provisioned
    connector = crm.connector(sandbox, **crm.lock_retries)
    sandbox.set_faults("write:lock=0.2")
    sandbox.reset_stats()

    results = connector.push(crm.account_object, _updates(crm, ids))

    batches = -(-len(ids) // WRITE_BATCH)
    assert write_requests(sandbox) > batches, "locked records were sent again"
    _assert_results_match_the_crm(crm, sandbox, ids, results)
    assert all(r.ok for r in results)


@pytest.mark.parametrize("status", ["429", "503"])
def test_throttled_and_unavailable_answers_are_retried_and_the_writes_land(
    crm: CrmAdapter, provisioned: tuple[SandboxHandle, list[str]], status: str
) -> None:
    sandbox, ids = provisioned
    connector = crm.connector(sandbox)
    connector.check_quota()
    sandbox.set_faults(f"{status}=0.3,retry_after=0.05")

    results = connector.push(crm.account_object, _updates(crm, ids))
    pulled = records(connector.pull(crm.request()))

    assert sandbox.stats()["faults"].get(status, 0) >= 1, f"the sandbox answered {status}"
    _assert_results_match_the_crm(crm, sandbox, ids, results)
    assert all(r.ok for r in results)
    assert sorted(str(r[crm.id_field]) for r in pulled) == sorted(ids)


def test_a_session_expiring_mid_run_is_renewed_and_nothing_is_lost(
    crm: CrmAdapter, provisioned: tuple[SandboxHandle, list[str]]
) -> None:
    sandbox, ids = provisioned
    connector: Connector = crm.connector(sandbox, session_expires=True)
    sandbox.set_faults("session_expiry=5")

    pulled = records(connector.pull(crm.request()))
    results = connector.push(crm.account_object, _updates(crm, ids))

    assert sorted(str(r[crm.id_field]) for r in pulled) == sorted(ids)
    _assert_results_match_the_crm(crm, sandbox, ids, results)
    assert all(r.ok for r in results)
    stats = sandbox.stats()
    assert stats["faults"].get("session_expiry", 0) >= 1, "sessions expired during the run"
    assert sum(stats["requests"].get("auth", {}).values()) >= 2, "the connector logged in anew"


def test_provisioning_twice_creates_nothing_the_second_time(
    crm: CrmAdapter, provisioned: tuple[SandboxHandle, list[str]]
) -> None:
    sandbox, _ = provisioned
    connector = crm.connector(sandbox)
    before = connector.describe(crm.account_object).fields

    again = connector.provision([crm.tier])

    assert again.created == again.updated == again.problems == []
    assert len(again.unchanged) == 1 and crm.tier.name in again.unchanged[0]
    after = crm.connector(sandbox).describe(crm.account_object).fields
    assert after == before
    assert after[crm.tier.name].updateable
