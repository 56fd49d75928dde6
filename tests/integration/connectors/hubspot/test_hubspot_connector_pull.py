"""Pulling through hubspot-api-client against the sandbox: paging, change sets past the search
cap, deletions and associations, with exact API call counts from the sandbox's stats."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hubspot_sandbox_support import private_app, pull_request, records, requests_of

from kam_sync.sandbox.runner import SandboxHandle, running_sandbox

ACCOUNTS = 250


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox("hubspot", accounts=ACCOUNTS, seed=3) as handle:
        yield handle


def test_first_sync_pages_through_the_list_endpoint_100_at_a_time(sandbox: SandboxHandle) -> None:
    connector = private_app(sandbox)
    sandbox.reset_stats()
    pages = list(connector.pull(pull_request("companies", ("name", "industry", "domain"))))
    got = records(pages)
    assert len(got) == ACCOUNTS
    assert len({r["hs_object_id"] for r in got}) == ACCOUNTS
    # 3 pages of live companies + 1 page of archived ones (none yet).
    assert requests_of(sandbox, "query", "GET") == math.ceil(ACCOUNTS / 100) + 1
    assert requests_of(sandbox, "search") == 0
    assert all(r["archived"] is False and "name" in r for r in got)
    # Only the last page may move the watermark: list order is by id, not by modification.
    assert [p.high_watermark is None for p in pages] == [True] * (len(pages) - 1) + [False]


def test_many_mapped_properties_go_in_a_post_body_instead_of_a_long_uri(
    sandbox: SandboxHandle,
) -> None:
    connector = private_app(sandbox, max_uri_length=256)
    fields = (
        "name",
        "industry",
        "domain",
        "country",
        "numberofemployees",
        "annualrevenue",
        "hubspot_owner_id",
        "createdate",
    )
    sandbox.reset_stats()
    got = records(connector.pull(pull_request("companies", fields)))
    assert len(got) == ACCOUNTS
    assert all("annualrevenue" in r for r in got)
    pages = math.ceil(ACCOUNTS / 100)
    assert requests_of(sandbox, "query", "GET") == pages + 1  # ids only, + archived
    assert requests_of(sandbox, "query", "POST") == pages  # one batch read per page


def test_related_companies_come_from_one_association_call_per_1000_records(
    sandbox: SandboxHandle,
) -> None:
    connector = private_app(sandbox)
    store = sandbox.app.store
    sandbox.reset_stats()
    companies = records(
        connector.pull(pull_request("companies", ("name", "@associations.parent_company")))
    )
    assert requests_of(sandbox, "associations") == math.ceil(ACCOUNTS / 1000)
    parents = {r["hs_object_id"]: r["@associations.parent_company"] for r in companies}
    expected = {str(c): str(p) for c, p in store.company_parent.items()}
    assert {k: v for k, v in parents.items() if v is not None} == expected
    assert expected, "the seed has company hierarchies"

    sandbox.reset_stats()
    since = datetime(2000, 1, 1, tzinfo=UTC)
    deals = records(
        connector.pull(pull_request("deals", ("dealname", "@associations.companies"), since=since))
    )
    searches = requests_of(sandbox, "search")
    assert searches == math.ceil(len(deals) / 200)
    assert requests_of(sandbox, "associations") == math.ceil(len(deals) / 1000) < searches
    by_deal = {str(d): str(c) for d, c in store.deal_company.items()}
    assert {
        r["hs_object_id"]: r["@associations.companies"]
        for r in deals
        if r["@associations.companies"]
    } == by_deal


def test_archived_records_are_pulled_as_deletions_and_not_as_live_records(
    sandbox: SandboxHandle,
) -> None:
    connector = private_app(sandbox, archived_sweep_interval_hours=0)
    store = sandbox.app.store
    since = datetime.now(UTC) - timedelta(minutes=1)
    gone = [str(i) for i in store.companies.ids[-3:]]
    for record_id in gone:
        store.archive("companies", record_id)
    pages = list(connector.pull(pull_request("companies", ("name",), since=since)))
    deletions = [r for r in records(pages) if r["archived"]]
    assert sorted(r["hs_object_id"] for r in deletions) == sorted(gone)
    assert not [r for r in records(pages) if not r["archived"] and r["hs_object_id"] in gone]
    assert pages[0].high_watermark is None  # deletion pages never move the watermark


def test_a_deleted_deal_comes_with_its_id_and_stamp_only_and_costs_no_association_call(
    sandbox: SandboxHandle,
) -> None:
    connector = private_app(sandbox, archived_sweep_interval_hours=0)
    store = sandbox.app.store
    since = datetime.now(UTC) - timedelta(minutes=1)
    deal = next(d for d in reversed(store.deals.ids) if d in store.deal_company)
    store.archive("deals", deal)
    sandbox.reset_stats()
    pages = list(
        connector.pull(pull_request("deals", ("dealname", "@associations.companies"), since=since))
    )
    deletions = [r for r in records(pages) if r["archived"]]
    assert [(r["hs_object_id"], r["@associations.companies"]) for r in deletions] == [
        (str(deal), None)
    ]
    # The fewest properties: a deletion needs the record's id and stamp, nothing else.
    assert deletions[0]["dealname"] is None
    assert deletions[0]["hs_lastmodifieddate"] is not None
    live_pages = [p for p in pages if p.records and not p.records[0]["archived"]]
    assert requests_of(sandbox, "associations") == len(live_pages)


def test_an_incremental_pull_reads_only_changes_since_the_watermark_minus_look_back(
    sandbox: SandboxHandle,
) -> None:
    connector = private_app(sandbox, look_back_minutes=10)
    store = sandbox.app.store
    changed = [str(i) for i in store.deals.ids[:5]]
    for record_id in changed:
        store.set_values("deals", record_id, {"dealname": f"renamed {record_id}"})
    watermark = datetime.now(UTC) - timedelta(minutes=5)  # changes are inside the look-back
    time.sleep(store.search_lag_seconds + 0.05)  # search shows a write a few moments later
    pages = list(connector.pull(pull_request("deals", ("dealname",), since=watermark)))
    live = [r for r in records(pages) if not r["archived"]]
    assert {r["hs_object_id"] for r in live} >= set(changed)
    assert all(r["dealname"].startswith("renamed") for r in live if r["hs_object_id"] in changed)
    stamps = [p.high_watermark for p in pages if p.high_watermark is not None]
    assert stamps == sorted(stamps)
