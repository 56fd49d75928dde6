"""Accounts that leave the scope lose the KAM values kam-sync wrote (issue 11, point 8), for
both CRMs, through the `kam-sync` command against the sandbox CRM."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.e2e.crm import ACCOUNT_OBJECT, TIER_FIELD, CrmHands, kam_sync_cli, sandbox_project

CRMS = ["salesforce", "hubspot"]
FLAGS_FIELD = {"salesforce": "KAM_Flags__c", "hubspot": "kam_flags"}
OVERRIDE = {"salesforce": "Manual Override", "hubspot": "manual_override"}


def _leave_scope(project: Path, crm: str, account_ids: list[str]) -> None:
    """The record filter of the mapping now leaves these accounts out."""
    mapping = project / "mappings" / f"{crm}.yaml"
    quoted = ", ".join(f"'{a}'" for a in account_ids)
    lines = [
        line for line in mapping.read_text().splitlines() if not line.lstrip().startswith("filter:")
    ]
    at = lines.index("    crm_object: " + ACCOUNT_OBJECT[crm])
    lines.insert(at + 1, f'    filter: "id NOT IN ({quoted})"')
    mapping.write_text("\n".join(lines) + "\n")


def _cli_json(*args: str, project: Path, env: dict[str, str]) -> dict:
    result = kam_sync_cli(*args, "--project", str(project), env=env, cwd=project.parent)
    assert result.returncode in (0, 3), result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
def test_accounts_that_leave_scope_are_cleared_and_a_person_s_edit_is_kept(
    tmp_path: Path, crm: str
) -> None:
    project = tmp_path / "project"
    with sandbox_project(crm, project, accounts=60) as (handle, env):
        hands = CrmHands.connect(crm, handle)
        assert (
            kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path).returncode
            == 0
        )
        _cli_json("run", "--json", project=project, env=env)
        with sqlite3.connect(project / "state" / "kam-sync.sqlite") as db:
            leaving = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM account_snapshot WHERE is_deleted = 0 AND kam_tier IS NOT NULL "
                    "ORDER BY id LIMIT 3"
                )
            ]
        cleared, edited = leaving[:2], leaving[2]
        tier_field, key = TIER_FIELD[crm]
        before = hands.kam_values()
        person_value = (
            key
            if before[edited][tier_field] != key
            else ("Watchlist" if crm == "salesforce" else "watchlist")
        )
        hands.update(ACCOUNT_OBJECT[crm], edited, {tier_field: person_value})
        _leave_scope(project, crm, leaving)

        plan = _cli_json("plan", "--format", "json", project=project, env=env)
        listed = {a["account_id"]: a for a in plan["out_of_scope_accounts"]}
        assert set(listed) == set(leaving)
        assert all(a["action"] == "clear" and a["name"] for a in listed.values())
        assert plan["out_of_scope"] == 3

        summary = _cli_json("run", "--json", project=project, env=env)
        assert summary["out_of_scope"] == 3
        after = hands.kam_values()
        for account_id in cleared:
            assert all(value in (None, "") for value in after[account_id].values()), after[
                account_id
            ]
        assert after[edited][tier_field] == person_value, "the person's edit is kept"
        assert OVERRIDE[crm] in (after[edited][FLAGS_FIELD[crm]] or "")
        untouched = [a for a in after if a not in leaving]
        assert all(after[a] == before[a] for a in untouched)

        again = _cli_json("run", "--json", project=project, env=env)
        assert again["accounts_written"] == 0, "clearing is done once"
        assert again["out_of_scope"] == 1  # the account whose edit is kept still holds our values
