"""Conformance: every registered connector pulls full, incremental and deleted records alike."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from kam_sync.sandbox.runner import SandboxHandle
from tests.conformance.conftest import CrmAdapter, records
from tests.e2e.crm import CrmHands

ACCOUNTS = 150


def _pull_all(crm: CrmAdapter, sandbox: SandboxHandle) -> tuple[list[dict[str, object]], datetime]:
    pages = list(crm.connector(sandbox).pull(crm.request()))
    watermark = pages[-1].high_watermark
    assert watermark is not None
    return records(pages), watermark


def test_a_full_pull_returns_every_seeded_account_once(crm: CrmAdapter) -> None:
    with crm.sandbox(accounts=ACCOUNTS, seed=31) as sandbox:
        got, _ = _pull_all(crm, sandbox)
        live = crm.live_ids(sandbox)

    ids = [str(r[crm.id_field]) for r in got]
    assert len(ids) == len(set(ids)) == ACCOUNTS
    assert sorted(ids) == sorted(live)
    assert all(not r[crm.deleted_field] for r in got)


def test_no_record_older_than_a_page_watermark_comes_after_that_page(crm: CrmAdapter) -> None:
    # The order of records within a pull is the connector's (Bulk API 2.0 queries carry no
    # ORDER BY; HubSpot's list endpoint pages by id). What the engine relies on is that a
    # pull stopped after any page and resumed from that page's high watermark misses nothing.
    with crm.sandbox(accounts=450, seed=32) as sandbox:
        pages = list(crm.connector(sandbox).pull(crm.request(page_size=100)))

    assert len(pages) >= 2, "the pull should span several pages"
    for n, page in enumerate(pages):
        if page.high_watermark is None:
            continue
        later = [r for p in pages[n + 1 :] for r in p.records]
        early = [r for r in later if crm.modified(r) < page.high_watermark]
        assert not early, f"page {n} moved the watermark past {len(early)} records still to come"


def test_page_high_watermarks_never_go_down_and_end_at_the_newest_record(
    crm: CrmAdapter,
) -> None:
    # Salesforce pages hold at least 200 records (its batchSize minimum), HubSpot's at most 100.
    with crm.sandbox(accounts=450, seed=33) as sandbox:
        pages = list(crm.connector(sandbox).pull(crm.request(page_size=100)))

    assert len(pages) >= 2, "the pull should span several pages"
    marks = [p.high_watermark for p in pages if p.high_watermark is not None]
    assert marks, "no page named a high watermark"
    assert marks == sorted(marks)
    seen: list[datetime] = []
    for page in pages:
        seen.extend(crm.modified(r) for r in page.records)
        if page.high_watermark is not None:
            # a page's watermark is the newest stamp among it and the pages before it
            assert page.high_watermark == max(seen)
    assert marks[-1] == max(seen)


def test_an_incremental_pull_returns_exactly_the_accounts_changed_since_the_watermark(
    crm: CrmAdapter,
) -> None:
    with crm.sandbox(accounts=ACCOUNTS, seed=34) as sandbox:
        _, watermark = _pull_all(crm, sandbox)
        changed = crm.live_ids(sandbox)[10:17]
        hands = CrmHands.connect(crm.crm, sandbox)
        for record_id in changed:
            hands.update(crm.account_object, record_id, {crm.name_field: f"Renamed {record_id}"})
        # HubSpot's search shows a write "a few moments" later (the sandbox emulates that lag);
        # this test is about the window, so it pulls once the changes are indexed.
        time.sleep(getattr(sandbox.app.store, "search_lag_seconds", 0) + 0.1)
        until = datetime.now(UTC) + timedelta(seconds=2)

        got = records(
            crm.connector(sandbox, look_back_minutes=0).pull(crm.request(watermark, until))
        )

    assert all(crm.modified(r) >= watermark for r in got)
    after = {str(r[crm.id_field]) for r in got if crm.modified(r) > watermark}
    assert after == set(changed)
    by_id = {str(r[crm.id_field]): r for r in got}
    assert all(by_id[i][crm.name_field] == f"Renamed {i}" for i in changed)


def test_a_deleted_account_comes_back_flagged_as_deleted(crm: CrmAdapter) -> None:
    with crm.sandbox(accounts=ACCOUNTS, seed=35) as sandbox:
        _, watermark = _pull_all(crm, sandbox)
        gone = crm.live_ids(sandbox)[5]
        CrmHands.connect(crm.crm, sandbox).delete(crm.account_object, gone)
        until = datetime.now(UTC) + timedelta(seconds=2)

        got = records(
            crm.connector(sandbox, look_back_minutes=0).pull(crm.request(watermark, until))
        )

    flagged = {str(r[crm.id_field]) for r in got if r[crm.deleted_field]}
    assert flagged == {gone}


def test_every_registered_crm_has_a_conformance_adapter() -> None:
    from kam_sync_connectors.registry import CRMS
    from tests.conformance.conftest import ADAPTERS

    assert set(CRMS) <= set(ADAPTERS), "add the new CRM's adapter to tests/conformance/conftest.py"
