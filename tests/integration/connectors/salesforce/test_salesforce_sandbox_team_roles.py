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
