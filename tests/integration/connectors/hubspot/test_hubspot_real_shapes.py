"""Shapes of real portals the sandbox serves by default: records edited while a change set is
paged, user-defined association labels whose ids collide with HubSpot's, whole-batch 400s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hubspot_sandbox_support import private_app, pull_request, records, requests_of

from kam_sync.sandbox.runner import SandboxHandle, running_sandbox
from kam_sync_connectors.base import PullRequest, RecordUpdate
from kam_sync_connectors.hubspot import connector as connector_module


def wait_for_the_search_index(sandbox: SandboxHandle) -> None:
    """Search shows a write only a few moments later (the sandbox's search lag)."""
    time.sleep(sandbox.app.store.search_lag_seconds + 0.05)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox("hubspot", accounts=120, seed=5) as handle:
        yield handle


def test_records_edited_while_a_pull_pages_skip_no_other_change(sandbox: SandboxHandle) -> None:
    store = sandbox.app.store
    deal_ids = [str(i) for i in store.deals.ids[:150]]
    start = datetime.now(UTC) - timedelta(days=1)
    real_clock = store.clock
    try:
        for n, record_id in enumerate(deal_ids):
            moment = start + timedelta(seconds=n)
            store.clock = lambda moment=moment: moment  # type: ignore[misc]
            store.set_values("deals", record_id, {"dealname": f"changed {record_id}"})
    finally:
        store.clock = real_clock
    wait_for_the_search_index(sandbox)
    request = PullRequest(
        object_name="deals",
        fields=("dealname",),
        since=start,
        until=start + timedelta(hours=1),
        id_field="hs_object_id",
        modified_field="hs_lastmodifieddate",
        deleted_field="archived",
        page_size=20,
    )
    connector = private_app(sandbox, look_back_minutes=0, pull_archived=False)
    seen: list[str] = []
    for page in connector.pull(request):
        seen.extend(r["hs_object_id"] for r in page.records)
        # Someone edits a deal already read: it leaves the window (stamped now, after `until`)
        # and, with offset cursors, every deal behind it moves one place up.
        store.set_values("deals", seen[0], {"dealname": "edited during the pull"})
    assert sorted(seen, key=int) == sorted(deal_ids, key=int)
    assert len(seen) == len(set(seen))


def test_a_user_defined_label_with_a_hubspot_defined_id_is_not_the_primary_company(
    sandbox: SandboxHandle,
) -> None:
    store = sandbox.app.store
    deal = next(d for d in store.deals.ids if store.deal_company.get(d) is not None)
    primary = store.deal_company[deal]
    other = min(c for c in store.companies.ids if c != primary)
    # A portal's own label "Reseller" was given id 5, the id of HubSpot's "Primary".
    store.label_association("deals", deal, "companies", other, type_id=5, label="Reseller")
    lone = next(
        c
        for c in store.companies.ids
        if store.company_parent.get(c) is None and c not in (primary, other)
    )
    store.label_association("companies", lone, "companies", other, type_id=14, label="Partner")
    connector = private_app(sandbox)
    deals = records(connector.pull(pull_request("deals", ("dealname", "@associations.companies"))))
    by_id = {r["hs_object_id"]: r for r in deals}
    assert by_id[str(deal)]["@associations.companies"] == str(primary)
    companies = records(
        connector.pull(pull_request("companies", ("name", "@associations.parent_company")))
    )
    assert {r["hs_object_id"]: r for r in companies}[str(lone)][
        "@associations.parent_company"
    ] is None


def test_one_bad_value_rejects_the_whole_batch_and_the_split_finds_it(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A value the connector cannot tell is bad before sending it (say, an option removed in
    # the portal after the properties were described): its own check lets everything through.
    monkeypatch.setattr(connector_module, "check_update", lambda *args: None)
    assert sandbox.app.invalid_values == "whole_batch"  # the real API's behaviour by default
    deal_ids = [str(i) for i in sandbox.app.store.deals.ids[:40]]
    updates = [RecordUpdate(i, {"amount": "1000.50"}) for i in deal_ids]
    bad = deal_ids[17]
    updates[17] = RecordUpdate(bad, {"amount": "not a number"})
    connector = private_app(sandbox)
    connector.set_write_back_targets("deals", ["amount"])
    sandbox.reset_stats()
    results = connector.push("deals", updates)
    assert sandbox.stats()["requests"]["write"]["POST"] > 1  # the 400, then the halves
    assert [r.record_id for r in results if not r.ok] == [bad]
    assert all(r.ok for r in results if r.record_id != bad)


def test_a_merged_away_company_comes_as_a_deletion_through_its_survivor(
    sandbox: SandboxHandle,
) -> None:
    store = sandbox.app.store
    survivor = next(c for c in store.companies.ids if store.company_parent.get(c) is None)
    merged = next(
        c
        for c in store.companies.ids
        if c != survivor and store.company_deals.get(c) and store.company_parent.get(c) is None
    )
    moved_deals = list(store.company_deals[merged])
    before = datetime.now(UTC) - timedelta(minutes=1)
    store.merge("companies", survivor, merged)
    wait_for_the_search_index(sandbox)
    connector = private_app(sandbox, look_back_minutes=0)
    got = records(connector.pull(pull_request("companies", ("name",), since=before)))
    by_id = {r["hs_object_id"]: r for r in got}
    assert by_id[str(merged)]["archived"] is True
    assert by_id[str(survivor)]["archived"] is False
    assert "hs_merged_object_ids" not in by_id[str(survivor)]
    # It is gone, not archived: neither list shows it.
    full = records(connector.pull(pull_request("companies", ("name",))))
    assert str(merged) not in {r["hs_object_id"] for r in full if not r["archived"]}
    deals = records(
        connector.pull(pull_request("deals", ("dealname", "@associations.companies"), since=before))
    )
    assert {
        r["@associations.companies"] for r in deals if int(r["hs_object_id"]) in moved_deals
    } == {str(survivor)}


def test_empty_and_short_search_pages_with_a_cursor_do_not_end_the_read(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = sandbox.app.store
    deal_ids = [str(i) for i in store.deals.ids[200:290]]
    start = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
    real_clock = store.clock
    try:
        for n, record_id in enumerate(deal_ids):
            moment = start + timedelta(seconds=n)
            store.clock = lambda moment=moment: moment  # type: ignore[misc]
            store.set_values("deals", record_id, {"dealname": f"ragged {record_id}"})
    finally:
        store.clock = real_clock
    wait_for_the_search_index(sandbox)
    monkeypatch.setattr(sandbox.app, "search_ragged_pages", True)
    request = PullRequest(
        object_name="deals",
        fields=("dealname",),
        since=start,
        until=start + timedelta(hours=1),
        id_field="hs_object_id",
        modified_field="hs_lastmodifieddate",
        page_size=30,
    )
    connector = private_app(sandbox, look_back_minutes=0, pull_archived=False)
    pages = list(connector.pull(request))
    assert sorted(r["hs_object_id"] for r in records(pages)) == sorted(deal_ids)
    assert pages[-1].high_watermark == start + timedelta(seconds=len(deal_ids) - 1)


def test_a_change_the_search_index_shows_late_is_read_by_the_next_pull_through_the_look_back(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = sandbox.app.store
    monkeypatch.setattr(store, "search_lag_seconds", 0.3)
    early_deal, late_deal = (str(i) for i in store.deals.ids[300:302])
    base = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
    real_clock = store.clock
    try:
        store.clock = lambda: base + timedelta(minutes=2)
        store.set_values("deals", late_deal, {"dealname": "indexed at once"})
        time.sleep(0.35)
        # Stamped earlier than the change above, but written (committed) later: the search
        # index does not show it for a few moments.
        store.clock = lambda: base + timedelta(minutes=1)
        store.set_values("deals", early_deal, {"dealname": "indexed late"})
    finally:
        store.clock = real_clock
    first = list(
        private_app(sandbox, look_back_minutes=0, pull_archived=False).pull(
            pull_request("deals", ("dealname",), since=base, until=base + timedelta(hours=1))
        )
    )
    assert [r["hs_object_id"] for r in records(first)] == [late_deal]
    watermark = first[-1].high_watermark
    assert watermark == base + timedelta(minutes=2)
    time.sleep(0.35)
    again = pull_request("deals", ("dealname",), since=watermark, until=base + timedelta(hours=1))
    without = records(private_app(sandbox, look_back_minutes=0, pull_archived=False).pull(again))
    assert early_deal not in {r["hs_object_id"] for r in without}
    with_look_back = records(
        private_app(sandbox, look_back_minutes=5, pull_archived=False).pull(again)
    )
    assert early_deal in {r["hs_object_id"] for r in with_look_back}


def test_archived_records_are_swept_once_a_day_when_asked_with_no_property_but_the_stamp(
    sandbox: SandboxHandle,
) -> None:
    store = sandbox.app.store
    gone = str(store.deals.ids[-1])
    store.archive("deals", gone)
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    connector = private_app(sandbox, archived_sweep_interval_hours=24)
    fields = ("dealname", "amount", "@associations.companies")

    def deletions(since: datetime, until: datetime) -> list[dict[str, object]]:
        sandbox.reset_stats()
        pages = connector.pull(pull_request("deals", fields, since=since, until=until))
        return [r for r in records(pages) if r["archived"]]

    # A window inside one UTC day lists no archived record: not one call.
    assert deletions(midnight + timedelta(microseconds=1), now) == []
    assert requests_of(sandbox, "query") == 0
    # The first window that crosses midnight does, and keeps those archived since the last
    # sweep (the midnight before the watermark) less the look-back.
    swept = deletions(midnight - timedelta(hours=2), now)
    assert [r["hs_object_id"] for r in swept] == [gone]
    assert swept[0]["dealname"] is None and swept[0]["amount"] is None
    calls = requests_of(sandbox, "query")
    assert calls == max(
        1, -(-len([d for d in store.deals.records.values() if d.archived_at]) // 100)
    )


def test_an_id_reconciliation_lists_every_live_id_100_a_call_with_the_id_property_alone() -> None:
    from dataclasses import replace

    with running_sandbox("hubspot", accounts=250, seed=53) as sandbox:
        store = sandbox.app.store
        purged, archived = str(store.companies.ids[5]), str(store.companies.ids[6])
        store.purge("companies", purged)  # deleted for good: no trace anywhere
        store.archive("companies", archived)
        live = {
            str(i) for i in store.companies.ids if store.companies.records[i].archived_at is None
        }
        until = datetime.now(UTC)
        connector = private_app(sandbox, pull_archived=False, id_reconciliation_days=7)
        listed: list[list[str]] = []
        real_list = connector.puller._list

        def spy(object_type: str, properties: list[str], after: str | None, **kw: bool) -> dict:
            listed.append(list(properties))
            return real_list(object_type, properties, after, **kw)

        connector.puller._list = spy  # type: ignore[method-assign]
        request = replace(
            pull_request("companies", ("name",), since=until - timedelta(minutes=1), until=until),
            ids_reconciled_at=until - timedelta(days=8),  # a week boundary lies between
        )

        pages = list(connector.pull(request))

        assert pages[-1].existing_ids == frozenset(live)
        assert purged not in live and archived not in live
        assert listed == [["hs_object_id"]] * -(-len(live) // 100)
        # Reconciled since the last period boundary: the next pull lists nothing.
        period = 7 * 86_400
        this_period = datetime.fromtimestamp(until.timestamp() // period * period, UTC)
        listed.clear()
        later = list(connector.pull(replace(request, ids_reconciled_at=this_period)))
        assert all(p.existing_ids is None for p in later)
        assert listed == []


def test_a_quiet_portal_sweeps_archived_records_once_a_day_not_on_every_run(
    sandbox: SandboxHandle,
) -> None:
    from dataclasses import replace

    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    connector = private_app(sandbox, archived_sweep_interval_hours=24)
    # Nothing changed for three days: the watermark stands there. The last run was today.
    request = replace(
        pull_request("deals", ("dealname",), since=now - timedelta(days=3), until=now),
        previous_until=midnight + (now - midnight) / 2,
    )
    sandbox.reset_stats()

    pages = list(connector.pull(request))

    assert not [r for p in pages for r in p.records if r["archived"]]
    assert requests_of(sandbox, "query") == 0  # no archived listing
