"""Sandbox tests for the Bulk API 2.0 first pull and picklist provisioning."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sf_sandbox import OUTPUT_FIELDS, TIERS, accounts_request, connector_for, requests_of


def test_a_big_first_pull_runs_as_one_bulk_query_job(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=1200, seed=24)
    sf = connector_for(sandbox, bulk_query_threshold=1000, bulk_query_page_records=500)

    pages = list(sf.pull(accounts_request(None, datetime.now(UTC), "Name", "NumberOfEmployees")))

    records = [r for p in pages for r in p.records]
    assert len({r["Id"] for r in records}) == len(records) == 1200
    # The rows come in no useful order: the watermark comes after the last of them.
    assert [len(p.records) for p in pages] == [500, 500, 200, 0]
    assert all(isinstance(r["IsDeleted"], bool) for r in records)
    assert all(p.high_watermark is None for p in pages[:-1])
    newest = max(r["SystemModstamp"] for r in records)
    assert pages[-1].high_watermark is not None
    assert pages[-1].high_watermark.strftime("%Y-%m-%dT%H:%M:%S") == newest[:19]
    assert requests_of(sandbox, "query") == 1  # the first REST page that chose Bulk
    assert requests_of(sandbox, "bulk", "POST") == 1
    assert sf.quota().calls_by_kind["bulk_jobs"] == 1


def test_a_large_bulk_result_page_is_handed_on_in_slices(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=4500, seed=26)
    sf = connector_for(sandbox, bulk_query_threshold=1000, bulk_query_page_records=10_000)
    calls: list[str] = []
    raw = sf.client.raw
    sf.client.raw = lambda name, *a, **k: calls.append(name) or raw(name, *a, **k)  # type: ignore[method-assign]

    pages = list(sf.pull(accounts_request(None, datetime.now(UTC), "Name")))

    # One results call for all 4,500 rows, parsed and passed on 2,000 at a time.
    assert [len(p.records) for p in pages] == [2000, 2000, 500, 0]
    assert len({r["Id"] for p in pages for r in p.records}) == 4500
    assert calls.count("bulk query results") == 1


def test_provisioning_adds_picklist_values_the_field_lacks(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=10, seed=25)
    tier = OUTPUT_FIELDS[0]
    connector_for(sandbox).provision([replace(tier, values=tier.values[:3])])

    report = connector_for(sandbox).provision([tier])

    assert report.updated == ["Account.KAM_Tier__c"] and not report.problems
    described = connector_for(sandbox).describe("Account").fields["KAM_Tier__c"]
    assert described.picklist_values == TIERS
