"""A change set past the 10,000-result search cap, 10,000 write-backs, and 429 storms, against a
sandbox with 11,000 deals; API call counts come from the sandbox's own stats."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hubspot_sandbox_support import FakeTime, private_app, pull_request, records, requests_of

from kam_sync.errors import FatalApiError
from kam_sync.sandbox.runner import SandboxHandle, running_sandbox
from kam_sync_connectors.base import RecordUpdate

ACCOUNTS = 2_200  # about 11,000 deals


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox("hubspot", accounts=ACCOUNTS, seed=5) as handle:
        yield handle


@pytest.mark.slow
def test_a_change_set_past_the_search_cap_with_shared_stamps_is_read_exactly_once(
    sandbox: SandboxHandle,
) -> None:
    store = sandbox.app.store
    deal_ids = [str(i) for i in store.deals.ids]
    assert len(deal_ids) > 10_500
    # A bulk edit stamps 10,350 deals with the very same millisecond; 150 were edited before.
    earlier = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    bulk = earlier + timedelta(seconds=5)
    real_clock = store.clock
    try:
        store.clock = lambda: earlier
        for record_id in deal_ids[:150]:
            store.set_values("deals", record_id, {"dealname": f"early {record_id}"})
        store.clock = lambda: bulk
        for record_id in deal_ids[150:10_500]:
            store.set_values("deals", record_id, {"dealname": f"bulk {record_id}"})
    finally:
        store.clock = real_clock
    time.sleep(store.search_lag_seconds + 0.05)  # search shows a write a few moments later

    connector = private_app(sandbox, look_back_minutes=0)
    sandbox.reset_stats()
    request = pull_request(
        "deals", ("dealname", "amount"), since=earlier, until=bulk + timedelta(seconds=1)
    )
    pages = list(connector.pull(request))
    got = [r for r in records(pages) if not r["archived"]]

    ids = [r["hs_object_id"] for r in got]
    assert len(ids) == 10_500
    assert set(ids) == set(deal_ids[:10_500])
    # 10,500 records in pages of 200 is 53 pages, each a query by key; once more than 100 ids
    # share the bulk stamp (NOT_IN's limit), that stamp is swept by id from its lowest id, which
    # reads again the ids read at it so far (at most 100 and a page: 2 pages).
    assert requests_of(sandbox, "search") <= 53 + 2
    assert not [f for f in sandbox.stats()["faults"] if f.startswith("rate_limit")]  # no 429
    assert pages[-1].high_watermark == bulk
    reader = connector.puller.last_reader
    assert reader is not None and reader.sweeps > 0


@pytest.mark.slow
def test_ten_thousand_updates_take_one_hundred_write_calls_with_per_record_results(
    sandbox: SandboxHandle,
) -> None:
    deal_ids = [str(i) for i in sandbox.app.store.deals.ids[:9_999]]
    updates = [RecordUpdate(i, {"dealname": f"kam {i}"}) for i in deal_ids]
    updates.append(RecordUpdate("12999999999", {"dealname": "nobody"}))  # no such deal
    # No lock retry rounds: every transient record failure must reach the results.
    connector = private_app(sandbox, lock_retry_attempts=0)
    connector.set_write_back_targets("deals", ["dealname"])
    sandbox.set_faults("write:lock=0.02,partial=0.01")
    sandbox.reset_stats()
    try:
        results = connector.push("deals", updates)
    finally:
        sandbox.set_faults(None)

    assert requests_of(sandbox, "write") == 100
    assert len(results) == 10_000
    assert [r.record_id for r in results] == [u.record_id for u in updates]
    faults = sandbox.stats()["faults"]
    transient = [r for r in results if not r.ok and r.retriable]
    assert len(transient) == faults.get("lock", 0) + faults.get("partial", 0) > 0
    assert {r.error_code for r in transient} <= {"CONFLICT", "INTERNAL_ERROR"}
    assert (results[-1].ok, results[-1].error_code, results[-1].retriable) == (
        False,
        "OBJECT_NOT_FOUND",
        False,
    )
    ok = [r for r in results if r.ok]
    assert len(ok) == 10_000 - len(transient) - 1
    assert sandbox.stats()["records_written"] == len(ok)


@pytest.mark.slow
def test_locked_records_are_sent_again_in_retry_rounds_and_only_they(
    sandbox: SandboxHandle,
) -> None:
    deal_ids = [str(i) for i in sandbox.app.store.deals.ids[:2_000]]
    updates = [RecordUpdate(i, {"dealname": f"kam {i}"}) for i in deal_ids]
    connector = private_app(sandbox, lock_retry_attempts=5, lock_retry_wait_seconds=0)
    connector.set_write_back_targets("deals", ["dealname"])
    sandbox.set_faults("write:lock=0.05")
    sandbox.reset_stats()
    try:
        results = connector.push("deals", updates)
    finally:
        sandbox.set_faults(None)

    locked = sandbox.stats()["faults"].get("lock", 0)
    assert locked > 0
    # The first round is 20 batches; each retry round sends only what was locked, in batches.
    assert 20 < requests_of(sandbox, "write") <= 20 + 5 * 2
    assert all(r.ok for r in results)
    assert sandbox.stats()["records_written"] == 2_000


def test_a_bad_option_is_refused_before_any_request(sandbox: SandboxHandle) -> None:
    connector = private_app(sandbox)
    connector.set_write_back_targets("deals", ["dealstage"])
    deal = str(sandbox.app.store.deals.ids[0])
    connector.describe("deals")
    sandbox.reset_stats()
    results = connector.push("deals", [RecordUpdate(deal, {"dealstage": "no_such_stage"})])
    assert (results[0].ok, results[0].error_code) == (False, "INVALID_OPTION")
    assert sandbox.stats()["requests_total"] == 0


def test_a_property_that_is_not_a_write_back_target_refuses_the_push_before_any_request(
    sandbox: SandboxHandle,
) -> None:
    connector = private_app(sandbox)
    deal = str(sandbox.app.store.deals.ids[0])
    sandbox.reset_stats()
    with pytest.raises(FatalApiError, match="amount"):
        connector.push("deals", [RecordUpdate(deal, {"amount": "1"})])
    connector.set_write_back_targets("deals", ["dealname"])
    with pytest.raises(FatalApiError, match="amount"):
        connector.push("deals", [RecordUpdate(deal, {"dealname": "x", "amount": "1"})])
    assert sandbox.stats()["requests_total"] == 0


@pytest.mark.parametrize(
    ("spec", "wait"),
    [("429=0.25,retry_after=2", 2.0), ("429=0.25", 10.0)],
    ids=["with-retry-after", "without-retry-after"],
)
def test_a_429_storm_is_waited_out_and_the_pull_finishes(
    sandbox: SandboxHandle, spec: str, wait: float
) -> None:
    fake_time = FakeTime()
    connector = private_app(sandbox, fake_time=fake_time, retry_max_attempts=20)
    expected = {str(i) for i in sandbox.app.store.companies.ids}
    sandbox.set_faults(spec)
    sandbox.reset_stats()
    try:
        got = records(connector.pull(pull_request("companies", ("name",))))
    finally:
        sandbox.set_faults(None)
    injected = sandbox.stats()["faults"].get("429", 0)
    assert injected > 0
    assert {r["hs_object_id"] for r in got if not r["archived"]} == expected
    assert len(got) == len(expected)
    # Each 429 waited what Retry-After said, or the ten-second window without it; no longer.
    assert connector.caller.retries == injected
    assert fake_time.slept.count(wait) == injected
    assert max(fake_time.slept) <= 10.0
    pages = math.ceil(len(expected) / 100) + 1
    assert requests_of(sandbox, "query") == pages + injected
