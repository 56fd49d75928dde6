"""Association pseudo-fields cost one v4 batch call per 1,000 records (HubSpot changelog,
"Batch Read Limit for HubSpot Associations API", 2025-02-10), not one per page of records."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hubspot_sandbox_support import private_app, pull_request, records, requests_of

from kam_sync.sandbox.runner import SandboxHandle, running_sandbox

ACCOUNTS = 260


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox("hubspot", accounts=ACCOUNTS, seed=7) as handle:
        yield handle


def test_association_reads_straddle_list_pages_and_keep_the_page_order(
    sandbox: SandboxHandle,
) -> None:
    # Batches of 150 ids over list pages of 100: 2 association calls for 260 companies,
    # one of them reading the end of one page and the start of the next.
    connector = private_app(sandbox, associations_batch_size=150)
    store = sandbox.app.store
    sandbox.reset_stats()
    pages = list(
        connector.pull(pull_request("companies", ("name", "@associations.parent_company")))
    )
    got = records(pages)
    assert requests_of(sandbox, "associations") == math.ceil(ACCOUNTS / 150) == 2
    assert [r["hs_object_id"] for r in got] == [str(i) for i in store.companies.ids]
    assert {r["hs_object_id"]: r["@associations.parent_company"] for r in got} == {
        str(c): (str(store.company_parent[c]) if c in store.company_parent else None)
        for c in store.companies.ids
    }
    # The watermark still moves on the last page only (list order is by id).
    assert [p.high_watermark is None for p in pages] == [True] * (len(pages) - 1) + [False]


def test_a_change_set_of_deals_reads_their_companies_1000_at_a_time(
    sandbox: SandboxHandle,
) -> None:
    connector = private_app(sandbox)
    store = sandbox.app.store
    sandbox.reset_stats()
    since = datetime(2000, 1, 1, tzinfo=UTC)
    deals = records(
        connector.pull(pull_request("deals", ("dealname", "@associations.companies"), since=since))
    )
    assert len(deals) > 1000
    assert requests_of(sandbox, "search") == math.ceil(len(deals) / 200)
    assert requests_of(sandbox, "associations") == math.ceil(len(deals) / 1000)
    assert {
        r["hs_object_id"]: r["@associations.companies"]
        for r in deals
        if r["@associations.companies"]
    } == {str(d): str(c) for d, c in store.deal_company.items()}


def test_archived_records_cost_no_association_read(sandbox: SandboxHandle) -> None:
    store = sandbox.app.store
    archived = [str(i) for i in store.companies.ids[:5]]
    for company in archived:
        store.archive("companies", int(company))
    connector = private_app(sandbox)
    sandbox.reset_stats()
    got = records(
        connector.pull(pull_request("companies", ("name", "@associations.parent_company")))
    )
    gone = [r for r in got if r["archived"]]
    assert sorted(r["hs_object_id"] for r in gone) == sorted(archived)
    assert all(r["@associations.parent_company"] is None for r in gone)
    assert requests_of(sandbox, "associations") == 1  # the 255 live companies
