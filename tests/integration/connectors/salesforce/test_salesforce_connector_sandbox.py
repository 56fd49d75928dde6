"""The Salesforce connector against the sandbox CRM over HTTPS, with exact API call counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sf_sandbox import (
    OUTPUT_FIELDS,
    TARGETS,
    TIERS,
    Sleeps,
    account_ids,
    accounts_request,
    connector_for,
    provisioned,
    requests_of,
)

from kam_sync.errors import QuotaExhaustedError
from kam_sync_connectors.base import RecordUpdate


def test_a_full_pull_pages_through_every_account_with_one_query_call_per_page(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=1000, seed=11)
    sf = connector_for(sandbox, query_batch_size=200, auth="password")

    pages = list(sf.pull(accounts_request(None, datetime.now(UTC))))

    ids = [r["Id"] for p in pages for r in p.records]
    assert len(ids) == len(set(ids)) == 1000
    stamps = [r["SystemModstamp"] for p in pages for r in p.records]
    assert stamps == sorted(stamps)
    assert len(pages) == 5
    # one call per page of 200: the first page's totalSize chose REST over Bulk, no COUNT()
    assert requests_of(sandbox, "query") == 5
    assert sf.quota().calls_by_kind["query"] == 5
    assert requests_of(sandbox, "auth") == 1


def test_incremental_pulls_keep_every_record_that_ties_on_the_watermark(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=200, seed=12)
    store = sandbox.app.store
    tick = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
    store.clock = lambda: tick
    ids = account_ids(sandbox)
    for record_id in ids[:5]:
        store.human_edit("Account", record_id, Name=f"Edited {record_id}")
    sf = connector_for(sandbox, look_back_minutes=0)
    until = tick + timedelta(seconds=1)

    first = [
        r for p in sf.pull(accounts_request(tick - timedelta(seconds=1), until)) for r in p.records
    ]
    pages = list(sf.pull(accounts_request(tick - timedelta(seconds=1), until)))
    watermark = pages[-1].high_watermark
    for record_id in ids[5:8]:  # more edits land on the very same stamp
        store.human_edit("Account", record_id, Name=f"Edited {record_id}")
    second = [r for p in sf.pull(accounts_request(watermark, until)) for r in p.records]

    assert sorted(r["Id"] for r in first) == ids[:5]
    assert watermark == tick
    assert sorted(r["Id"] for r in second) == ids[:8]


def test_deleted_accounts_arrive_flagged_as_deleted(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=100, seed=13)
    since = datetime.now(UTC) - timedelta(seconds=1)
    gone = account_ids(sandbox)[3]
    sandbox.app.store.delete("Account", gone)
    sf = connector_for(sandbox)

    records = [
        r
        for p in sf.pull(accounts_request(since, datetime.now(UTC) + timedelta(seconds=1)))
        for r in p.records
    ]

    # once from the delete log (Get Deleted), once from queryAll (still in the recycle bin)
    assert {(r["Id"], r["IsDeleted"]) for r in records} == {(gone, True)}


def test_a_session_expiring_mid_pull_is_renewed_and_nothing_is_lost(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=1000, seed=14, faults="session_expiry=4")
    sf = connector_for(sandbox, query_batch_size=200)

    ids = [r["Id"] for p in sf.pull(accounts_request(None, datetime.now(UTC))) for r in p.records]

    assert len(set(ids)) == len(ids) == 1000
    assert requests_of(sandbox, "auth") >= 2
    assert sf.quota().calls_by_kind["auth"] == requests_of(sandbox, "auth")


def test_provisioning_twice_creates_the_fields_once(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=20, seed=15)
    sf = connector_for(sandbox)

    first = sf.provision(OUTPUT_FIELDS)
    created_after_first = requests_of(sandbox, "tooling", "POST")
    second = connector_for(sandbox).provision(OUTPUT_FIELDS)

    assert not first.problems, first.problems
    assert sorted(first.created) == sorted(f"Account.{n}" for n in TARGETS)
    assert not second.problems and not second.created and not second.updated
    assert sorted(second.unchanged) == sorted(first.created)
    assert created_after_first == len(OUTPUT_FIELDS)
    # nothing created or changed again
    assert requests_of(sandbox, "tooling", "POST") == created_after_first
    assert requests_of(sandbox, "tooling", "PATCH") == 0
    described = sf.describe("Account").fields["KAM_Tier__c"]
    assert described.updateable and described.picklist_values == TIERS


def test_2000_updates_take_10_collection_calls_with_a_result_per_record(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=2000, seed=16)
    sf = provisioned(sandbox)
    ids = account_ids(sandbox)
    bad = set(ids[::250])
    updates = [
        RecordUpdate(i, {"KAM_Tier__c": "Bogus" if i in bad else "Key", "KAM_Score__c": 71.5})
        for i in ids
    ]

    results = sf.push("Account", updates)

    assert requests_of(sandbox, "write") == 10
    assert sf.quota().calls_by_kind["write"] == 10
    assert [r.record_id for r in results] == ids
    failed = {r.record_id: r for r in results if not r.ok}
    assert set(failed) == bad
    assert all(not r.retriable and r.error_code for r in failed.values())
    assert sandbox.app.store.get("Account", ids[1])["KAM_Tier__c"] == "Key"


@pytest.mark.slow
def test_10000_updates_through_collections_are_exactly_50_write_calls(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=10_000, seed=17)
    sf = provisioned(sandbox)
    sf = connector_for(sandbox, bulk_write_threshold=20_000)
    updates = [RecordUpdate(i, {"KAM_Tier__c": "Emerging"}) for i in account_ids(sandbox)]

    results = sf.push("Account", updates)

    assert len(updates) == 10_000 and all(r.ok for r in results)
    assert requests_of(sandbox, "write") == 50


def test_a_bulk_ingest_job_reports_its_failed_rows(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=2500, seed=18)
    sf = provisioned(sandbox)
    ids = account_ids(sandbox)
    bad = set(ids[::500])
    updates = [
        RecordUpdate(i, {"KAM_Plan_Stage__c": "Nonsense" if i in bad else "Research"}) for i in ids
    ]

    results = sf.push("Account", updates)

    assert [r.record_id for r in results] == ids
    assert {r.record_id for r in results if not r.ok} == bad
    assert requests_of(sandbox, "write") == 0
    # create, upload, close, >=1 status poll, successful and failed results
    assert requests_of(sandbox, "bulk", "POST") == 1
    assert requests_of(sandbox, "bulk", "PUT") == 1
    assert requests_of(sandbox, "bulk", "PATCH") == 1
    assert sandbox.app.store.get("Account", ids[1])["KAM_Plan_Stage__c"] == "Research"


def test_locked_records_are_retried_until_written(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=400, seed=19)
    sf = provisioned(sandbox)
    sandbox.set_faults("write:lock=0.1")
    sleeps = Sleeps()
    sf = connector_for(sandbox, sleeps, lock_retry_attempts=5, lock_retry_wait_seconds=0.5)
    ids = account_ids(sandbox)

    results = sf.push("Account", [RecordUpdate(i, {"KAM_Tier__c": "Strategic"}) for i in ids])

    assert all(r.ok for r in results)
    rounds = len(sleeps.waits)
    assert rounds >= 1  # some records were locked at first
    assert sleeps.waits == [0.5 * 2**n for n in range(rounds)]
    # two collections of 200, then one request per retry round (fewer than 200 locked)
    assert requests_of(sandbox, "write") == 2 + rounds
    # each round first reads the locked records' parent accounts, to group them
    assert requests_of(sandbox, "query") == rounds


def test_the_run_stops_cleanly_when_the_daily_budget_is_reached(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=1000, seed=20, daily_api_limit=1000, faults="quota=205")
    sf = connector_for(sandbox, query_batch_size=200)
    sf.check_quota()  # 796 of 1000 used after this call

    pages = []
    with pytest.raises(QuotaExhaustedError) as caught:
        for page in sf.pull(accounts_request(None, datetime.now(UTC))):
            pages.append(page)

    assert caught.value.exit_code == 4
    # describe + 3 pages bring usage to the 800 stop line; nothing more is sent
    assert sum(len(p.records) for p in pages) == 600
    assert pages[-1].high_watermark is not None
    assert sf.quota().used == 800
    assert requests_of(sandbox, "query") == 3


@pytest.mark.parametrize("flow", ["jwt", "client_credentials", "password"])
def test_every_oauth_flow_logs_in_to_the_sandbox_over_https(
    sandbox_factory: Callable[..., Any], flow: str
) -> None:
    sandbox = sandbox_factory(accounts=10, seed=21)
    sf = connector_for(sandbox, auth=flow)

    status = sf.check_quota()

    assert status.limit is not None and status.used is not None
    assert status.calls_by_kind == {"auth": 1, "limits": 1}


def test_the_sandbox_ca_is_trusted_even_when_requests_ca_bundle_points_elsewhere(
    sandbox_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import certifi

    sandbox = sandbox_factory(accounts=10, seed=22)
    # The public CA bundle does not know the sandbox's CA: requests alone would fail here.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    sf = connector_for(sandbox)

    assert sf.describe("Account").fields["Name"].type == "string"


def test_throttling_and_dropped_connections_are_retried_without_losing_a_page(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(
        accounts=1000, seed=23, faults="query:429=0.2,503=0.1,drop=0.05,retry_after=2"
    )
    sleeps = Sleeps()
    sf = connector_for(sandbox, sleeps, query_batch_size=200, retry_max_attempts=8)

    ids = [r["Id"] for p in sf.pull(accounts_request(None, datetime.now(UTC))) for r in p.records]

    assert len(set(ids)) == len(ids) == 1000
    faults = sandbox.stats()["faults"]
    injected = faults.get("429", 0) + faults.get("503", 0) + faults.get("drop", 0)
    assert injected >= 1
    assert requests_of(sandbox, "query") == 5 + injected
    assert len(sleeps.waits) == injected
    # throttled answers carry Retry-After: 2 and are waited out exactly
    assert sleeps.waits.count(2.0) >= faults.get("429", 0) + faults.get("503", 0)
