"""Account team roles through the related pseudo-field, against the sandbox."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sf_sandbox import accounts_request, connector_for, requests_of

ROLES = "@AccountTeamMember.TeamMemberRole"


def test_team_roles_arrive_as_a_list_of_labels_per_account(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=300, seed=26)
    expected: dict[str, list[str]] = defaultdict(list)
    for member in sandbox.app.store.records("AccountTeamMember"):
        expected[member["AccountId"]].append(member["TeamMemberRole"])
    sf = connector_for(sandbox, query_batch_size=200)

    records = [
        r
        for p in sf.pull(accounts_request(None, datetime.now(UTC), "Name", ROLES))
        for r in p.records
    ]

    assert len(records) == 300
    assert any(r[ROLES] for r in records)
    assert {r["Id"]: sorted(r[ROLES]) for r in records if r[ROLES]} == {
        k: sorted(v) for k, v in expected.items()
    }
    # the roles ride along in the account query pages: no extra calls, no COUNT() for Bulk
    assert requests_of(sandbox, "query") == 2


def test_an_incremental_pull_finds_accounts_whose_team_alone_changed(
    sandbox_factory: Callable[..., Any],
) -> None:
    # A change to AccountTeamMember does not move the Account's SystemModstamp (as in Salesforce).
    sandbox = sandbox_factory(accounts=300, seed=27)
    # (no id reconciliation: the seed's stamps are weeks old, so one would be due here)
    sf = connector_for(sandbox, query_batch_size=200, look_back_minutes=0, id_reconciliation_days=0)
    first = list(sf.pull(accounts_request(None, datetime.now(UTC), "Name", ROLES)))
    watermark = first[-1].high_watermark
    assert watermark is not None
    store = sandbox.app.store
    members = [m for m in store.records("AccountTeamMember") if not m.get("IsDeleted")]
    with_team = {m["AccountId"] for m in members}
    left = members[0]
    joined = next(r["Id"] for r in store.records("Account") if r["Id"] not in with_team)
    stamps_before = {r["Id"]: r["SystemModstamp"] for r in store.records("Account")}
    store.delete("AccountTeamMember", left["Id"])
    store.create(
        store.schema.get("AccountTeamMember"),
        {"AccountId": joined, "UserId": members[1]["UserId"], "TeamMemberRole": "Innovator"},
    )
    assert {r["Id"]: r["SystemModstamp"] for r in store.records("Account")} == stamps_before
    sandbox.reset_stats()

    pages = list(sf.pull(accounts_request(watermark, datetime.now(UTC), "Name", ROLES)))

    pulled = {r["Id"]: r for p in pages for r in p.records}
    assert pulled[joined][ROLES] == ["Innovator"]
    remaining = sorted(
        m["TeamMemberRole"] for m in members[1:] if m["AccountId"] == left["AccountId"]
    )
    assert sorted(pulled[left["AccountId"]][ROLES]) == remaining
    # the accounts pulled by Id come first and do not move the watermark; the regular pages do
    assert pages[0].high_watermark is None
    assert {joined, left["AccountId"]} <= {r["Id"] for r in pages[0].records}
    assert pages[-1].high_watermark is not None and pages[-1].high_watermark >= watermark
    # the incremental query, the changed children, the accounts by Id
    assert requests_of(sandbox, "query") == 3
