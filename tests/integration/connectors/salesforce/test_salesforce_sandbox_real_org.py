"""Issue 13: the connector against the sandbox where it behaves as a real org does.

Bulk queries with ORDER BY time out above the PK-chunking size; REQUEST_LIMIT_EXCEEDED also
means "too many requests at once"; ingest jobs fail part-way and keep what they wrote; Bulk API
2.0 takes 32,000 characters per field; large child sets are paged; bulk status polls back off.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sf_sandbox import (
    Sleeps,
    account_ids,
    accounts_request,
    connector_for,
    provisioned,
    requests_of,
)

from kam_sync.errors import FatalApiError
from kam_sync_connectors.base import RecordUpdate
from kam_sync_connectors.salesforce import soql
from kam_sync_connectors.window import reconciliation_due

ROLES = "@AccountTeamMember.TeamMemberRole"


def test_a_first_pull_through_bulk_sends_no_order_by_and_passes_where_an_ordered_one_times_out(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=1200, seed=31)
    sandbox.app.bulk_queries.pk_chunk_size = 1000  # a "large object" for this test
    sf = connector_for(sandbox, bulk_query_threshold=1000, bulk_query_page_records=500)

    pages = list(sf.pull(accounts_request(None, datetime.now(UTC), "Name")))

    (query_text,) = sandbox.app.bulk_queries.created_queries
    assert "ORDER BY" not in query_text.upper()
    records = [r for p in pages for r in p.records]
    assert len({r["Id"] for r in records}) == 1200
    newest = max(r["SystemModstamp"] for r in records)
    assert pages[-1].high_watermark is not None
    assert pages[-1].high_watermark.strftime("%Y-%m-%dT%H:%M:%S") == newest[:19]


def test_the_sandbox_fails_an_ordered_bulk_query_above_the_pk_chunk_size(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=300, seed=32)
    sandbox.app.bulk_queries.pk_chunk_size = 200
    sf = connector_for(sandbox)
    from kam_sync_connectors.salesforce import bulk

    with pytest.raises(FatalApiError, match="QUERY_TIMEOUT") as caught:
        list(bulk.query_pages(sf.client, "SELECT Id FROM Account ORDER BY Id"))
    assert caught.value.error_code == "Failed"
    rows = [r for page in bulk.query_pages(sf.client, "SELECT Id FROM Account") for r in page]
    assert len(rows) == 300


def test_a_concurrent_request_limit_is_waited_out_and_the_pull_completes(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=300, seed=33)
    sleeps = Sleeps()
    sf = connector_for(sandbox, sleeps, query_batch_size=200)
    sf.describe("Account")
    sandbox.app.refuse_concurrent_requests = 2

    records = [r for p in sf.pull(accounts_request(None, datetime.now(UTC))) for r in p.records]

    assert len(records) == 300
    assert sandbox.stats()["faults"].get("concurrent_limit") == 2
    assert len(sf.client.waits) >= 2  # backed off, did not stop


def test_the_daily_limit_still_stops_the_run(
    sandbox_factory: Callable[..., Any],
) -> None:
    from kam_sync.errors import QuotaExhaustedError

    sandbox = sandbox_factory(accounts=50, seed=34, daily_api_limit=1000, faults="quota=0")
    sf = connector_for(sandbox)

    with pytest.raises(QuotaExhaustedError, match="TotalRequests"):
        list(sf.pull(accounts_request(None, datetime.now(UTC))))


def test_a_bulk_job_failing_part_way_keeps_the_rows_it_wrote_and_retries_the_rest(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=30, seed=35)
    sf = provisioned(sandbox)
    sf = connector_for(sandbox, bulk_write_threshold=5)
    ids = account_ids(sandbox)
    sandbox.app.bulk.fail_next_job_after_rows = 12
    bad = ids[3]
    updates = [
        RecordUpdate(i, {"KAM_Plan_Stage__c": "Nonsense" if i == bad else "Research"}) for i in ids
    ]

    results = {r.record_id: r for r in sf.push("Account", updates)}

    store = sandbox.app.store
    written = {i for i in ids if store.get("Account", i).get("KAM_Plan_Stage__c") == "Research"}
    assert len(written) == 11  # the first 12 rows were processed, one of them refused
    assert {i for i, r in results.items() if r.ok} == written
    assert not results[bad].ok and not results[bad].retriable
    unprocessed = [r for r in results.values() if r.error_code == "UNPROCESSED"]
    assert len(unprocessed) == 18 and all(r.retriable for r in unprocessed)
    assert {r.record_id for r in unprocessed}.isdisjoint(written)


def test_a_bulk_job_failing_before_any_row_marks_every_row_failed_and_final(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=20, seed=36)
    sf = provisioned(sandbox)
    sf = connector_for(sandbox, bulk_write_threshold=5)
    sandbox.app.bulk.fail_next_job_after_rows = 0
    ids = account_ids(sandbox)

    results = sf.push("Account", [RecordUpdate(i, {"KAM_Plan_Stage__c": "Research"}) for i in ids])

    assert all(not r.ok and not r.retriable for r in results)


def test_bulk_writes_cut_long_texts_to_32000_characters(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=12, seed=37)
    sf = provisioned(sandbox)
    sf = connector_for(sandbox, bulk_write_threshold=5)
    ids = account_ids(sandbox)
    text = "x" * 32_500  # fits the 32,768-character field, not a Bulk API 2.0 cell

    results = sf.push("Account", [RecordUpdate(i, {"KAM_Score_Explanation__c": text}) for i in ids])

    assert all(r.ok for r in results)
    stored = sandbox.app.store.get("Account", ids[0])["KAM_Score_Explanation__c"]
    assert stored == "x" * 32_000


def test_the_sandbox_refuses_a_bulk_cell_above_32000_characters(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=12, seed=38)
    sf = provisioned(sandbox)
    sf = connector_for(sandbox, bulk_write_threshold=5, bulk_max_field_chars=32_000)
    from kam_sync_connectors.salesforce import bulk

    ids = account_ids(sandbox)[:2]
    rows = [{"Id": i, "KAM_Score_Explanation__c": "y" * 32_001} for i in ids]
    chunks = bulk.update_csv_chunks(
        rows, ["KAM_Score_Explanation__c"], 10**8, max_field_chars=40_000
    )
    chunk_ids, body = next(chunks)  # the file lives until the next chunk is asked for
    outcomes = bulk.run_update_job(sf.client, "Account", chunk_ids, body)
    chunks.close()

    assert {o.error_code for o in outcomes.values()} == {"STRING_TOO_LONG"}


def test_large_team_sets_are_paged_past_their_first_batch_and_read_whole(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=40, seed=39)
    store = sandbox.app.store
    sandbox.app.queries.child_batch_size = 3
    expected: dict[str, list[str]] = defaultdict(list)
    for member in store.records("AccountTeamMember"):
        if not member.get("IsDeleted"):
            expected[member["AccountId"]].append(member["TeamMemberRole"])
    big = max(expected, key=lambda k: len(expected[k]))
    users = [u["Id"] for u in store.records("User")]
    for user in users[:8]:
        store.create(
            store.schema.get("AccountTeamMember"),
            {"AccountId": big, "UserId": user, "TeamMemberRole": "Innovator"},
        )
        expected[big].append("Innovator")
    sf = connector_for(sandbox)

    records = [
        r
        for p in sf.pull(accounts_request(None, datetime.now(UTC), "Name", ROLES))
        for r in p.records
    ]

    got = {r["Id"]: sorted(r[ROLES]) for r in records if r[ROLES]}
    assert got == {k: sorted(v) for k, v in expected.items()}
    assert len(got[big]) > 3
    assert requests_of(sandbox, "query") > 1  # the children's own nextRecordsUrl was followed


def test_bulk_status_polls_back_off_from_one_second_doubling_to_thirty(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=1200, seed=40)
    sandbox.app.bulk_queries.processing_seconds = 0.4
    sleeps = Sleeps()
    sf = connector_for(
        sandbox,
        sleeps,
        bulk_query_threshold=1000,
        bulk_poll_interval_seconds=1.0,
        bulk_poll_max_interval_seconds=30.0,
    )

    list(sf.pull(accounts_request(None, datetime.now(UTC), "Name")))

    polls = [w for w in sleeps.waits if w >= 1.0]
    assert polls and polls == [min(2.0**n, 30.0) for n in range(len(polls))]


def test_the_incremental_rest_query_keeps_its_order_by() -> None:
    selection = soql.Selection(paths=("Id", "SystemModstamp"), related=())
    text = soql.incremental_query(
        "Account",
        selection,
        modified_field="SystemModstamp",
        id_field="Id",
        since=None,
        until=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert text.endswith("ORDER BY SystemModstamp ASC, Id ASC")


def test_hard_deleted_and_purged_records_arrive_as_tombstones_from_the_delete_log(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=60, seed=41)
    store = sandbox.app.store
    since = datetime.now(UTC) - timedelta(minutes=5)
    hard, binned = account_ids(sandbox)[:2]
    store.hard_delete("Account", hard)
    store.delete("Account", binned)
    store.purge_recycle_bin("Account")
    sf = connector_for(sandbox, id_reconciliation_days=0)

    pages = list(sf.pull(accounts_request(since, datetime.now(UTC) + timedelta(minutes=1))))

    records = [r for p in pages for r in p.records]
    assert {r["Id"] for r in records} == {hard, binned}  # queryAll alone sees neither
    assert all(r["IsDeleted"] is True and r["SystemModstamp"] for r in records)
    assert pages[0].high_watermark is None


def test_the_delete_log_is_read_no_further_back_than_its_15_days(
    sandbox_factory: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_factory(accounts=30, seed=42)
    sf = connector_for(sandbox, id_reconciliation_days=0)

    pages = list(
        sf.pull(accounts_request(datetime.now(UTC) - timedelta(days=40), datetime.now(UTC)))
    )

    assert pages  # no INVALID_REPLICATION_DATE from asking too far back
    assert "may be missing" in caplog.text  # nothing says when the log was last read


def test_an_id_reconciliation_lists_every_existing_id_once_a_period_boundary_is_crossed(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=2500, seed=43)
    sf = connector_for(sandbox, id_reconciliation_days=7)
    until = datetime.now(UTC)

    pages = list(sf.pull(accounts_request(until - timedelta(days=8), until)))
    quiet = list(sf.pull(accounts_request(until - timedelta(seconds=1), until)))

    assert pages[-1].existing_ids == frozenset(account_ids(sandbox))
    # a one-second window is due only if it happens to cross a boundary
    due = reconciliation_due(until - timedelta(seconds=1), until, 7)
    assert any(p.existing_ids is not None for p in quiet) == due


def _within_this_period(until: datetime, days: float) -> datetime:
    """The start of the ``days``-long period ``until`` falls in: no boundary lies between."""
    period = days * 86_400
    return datetime.fromtimestamp(until.timestamp() // period * period, UTC)


def test_a_quiet_org_read_yesterday_gets_no_delete_log_warning_and_no_id_listing(
    sandbox_factory: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    from dataclasses import replace

    sandbox = sandbox_factory(accounts=30, seed=48)
    sf = connector_for(sandbox, id_reconciliation_days=7)
    until = datetime.now(UTC)
    # Nothing changed for 40 days, so the watermark is that old; the last run was yesterday and
    # the ids were reconciled earlier in this period.
    request = replace(
        accounts_request(until - timedelta(days=40), until),
        previous_until=until - timedelta(days=1),
        ids_reconciled_at=_within_this_period(until, 7),
    )

    pages = list(sf.pull(request))

    assert all(p.existing_ids is None for p in pages)
    assert "may be missing" not in caplog.text
    assert "delete log" not in caplog.text


def test_a_gap_longer_than_the_delete_log_warns_and_lists_every_id_in_the_same_pull(
    sandbox_factory: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    from dataclasses import replace

    sandbox = sandbox_factory(accounts=30, seed=49)
    sf = connector_for(sandbox, id_reconciliation_days=7)
    until = datetime.now(UTC)
    request = replace(
        accounts_request(until - timedelta(days=40), until),
        previous_until=until - timedelta(days=20),  # the last run read the log 20 days ago
        ids_reconciled_at=_within_this_period(until, 7),  # not due by the period
    )

    pages = list(sf.pull(request))

    assert pages[-1].existing_ids == frozenset(account_ids(sandbox))
    assert "may be missing" in caplog.text and "lists every id" in caplog.text


def test_a_merged_away_account_is_named_with_its_survivor(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=30, seed=50)
    store = sandbox.app.store
    survivor, loser = sorted(account_ids(sandbox))[:2]
    since = datetime.now(UTC) - timedelta(minutes=1)
    store.merge("Account", survivor, loser)
    sf = connector_for(sandbox, id_reconciliation_days=0)

    pages = list(sf.pull(accounts_request(since, datetime.now(UTC) + timedelta(minutes=1))))

    merged = {k: v for p in pages for k, v in p.merged_into.items()}
    assert merged == {loser: survivor}


def _opportunities(since: datetime | None = None) -> Any:
    from kam_sync_connectors.base import PullRequest

    return PullRequest(
        object_name="Opportunity",
        fields=("AccountId", "Amount", "StageName"),
        since=since,
        until=datetime.now(UTC) + timedelta(minutes=1),
        id_field="Id",
        modified_field="SystemModstamp",
        deleted_field="IsDeleted",
    )


def test_amounts_in_a_multi_currency_org_arrive_in_the_corporate_currency(
    sandbox_factory: Callable[..., Any],
) -> None:
    from decimal import Decimal

    from kam_sync.sandbox.salesforce.currency import enable_multi_currency, set_currency

    sandbox = sandbox_factory(accounts=40, seed=44)
    store = sandbox.app.store
    single = {
        r["Id"]: r["Amount"]
        for p in connector_for(sandbox).pull(_opportunities())
        for r in p.records
    }
    enable_multi_currency(
        store, corporate="USD", rates={"EUR": Decimal("0.9"), "JPY": Decimal("150")}
    )
    priced = [i for i, amount in sorted(single.items()) if amount]
    set_currency(store, "Opportunity", priced[0], "EUR")
    set_currency(store, "Opportunity", priced[1], "JPY")
    assert store.get("Opportunity", priced[1])["Amount"] != single[priced[1]]
    sf = connector_for(sandbox)

    multi = {r["Id"]: r["Amount"] for p in sf.pull(_opportunities()) for r in p.records}

    assert multi == single  # the same figures, in USD, as the single-currency twin
    assert sf._puller.corporate_currency == "USD"  # type: ignore[attr-defined]


def test_a_single_currency_org_makes_no_currency_calls(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=20, seed=45)
    sf = connector_for(sandbox)
    sf.describe("Opportunity")
    sandbox.reset_stats()

    list(sf.pull(_opportunities()))

    assert requests_of(sandbox, "query") == 1


def test_with_advanced_currency_management_amounts_convert_at_their_close_dates_rate(
    sandbox_factory: Callable[..., Any],
) -> None:
    from datetime import date
    from decimal import Decimal

    from kam_sync.sandbox.salesforce.currency import (
        enable_dated_rates,
        enable_multi_currency,
        set_currency,
    )

    sandbox = sandbox_factory(accounts=30, seed=47)
    store = sandbox.app.store
    enable_multi_currency(store, corporate="USD", rates={"EUR": Decimal("4")})
    deal = next(r for r in store.records("Opportunity") if r.get("Amount") and r.get("CloseDate"))
    set_currency(store, "Opportunity", deal["Id"], "EUR")
    amount_eur = store.get("Opportunity", deal["Id"])["Amount"]
    close = deal["CloseDate"]
    enable_dated_rates(
        store,
        [
            ("EUR", date(1990, 1, 1), close, Decimal("8")),
            ("EUR", close, None, Decimal("2")),  # the period of the close date
        ],
    )
    sf = connector_for(sandbox)

    pulled = {r["Id"]: r for p in sf.pull(_opportunities()) for r in p.records}

    assert pulled[deal["Id"]]["Amount"] == (Decimal(amount_eur) / 2).quantize(Decimal("0.01"))
