"""A HubSpot portal as real ones are: deals archived (no associations readable), companies
merged away (gone, not archived), records edited while a run pages through the change set."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.e2e.crm import CrmHands, kam_sync_cli, sandbox_project


def _run_json(project: Path, env: dict[str, str]) -> dict:
    result = kam_sync_cli("run", "--json", "--project", str(project), env=env, cwd=project.parent)
    assert result.returncode in (0, 3), result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_archived_deals_merged_companies_and_edits_during_the_pull_lose_nothing(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    with sandbox_project("hubspot", project, accounts=150) as (handle, env):
        hands = CrmHands.connect("hubspot", handle)
        store = handle.app.store
        assert (
            kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path).returncode
            == 0
        )
        first = _run_json(project, env)
        assert first["status"] in ("ok", "warning"), first

        # Deals archived: HubSpot returns no associations for them.
        archived = [str(d) for d in store.deals.ids[:3] if d in store.deal_company]
        for deal in archived:
            hands.delete("deals", deal)
        # Two companies merged: the merged one is gone, its deals now belong to the survivor.
        survivor, merged = (
            str(c) for c in [c for c in store.companies.ids if store.company_deals.get(c)][:2]
        )
        moved = [str(d) for d in store.company_deals[int(merged)]]
        response = hands.session.post(
            f"{handle.base_url}/crm/v3/objects/companies/merge",
            json={"primaryObjectId": survivor, "objectIdToMerge": merged},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        # 450 deals renamed: more than two search pages.
        renamed = [str(d) for d in store.deals.ids[10:460]]
        for deal in renamed:
            store.set_values("deals", deal, {"dealname": f"renamed {deal}"})
        time.sleep(store.search_lag_seconds + 0.1)

        # While the run pages through deals, someone edits a deal it has already read: the
        # deal leaves the change set and, with offset paging, the rest would shift by one.
        edited_during: list[str] = []

        def edit_one_already_read(object_type: str) -> None:
            if object_type == "deals" and len(edited_during) < 2:
                deal = renamed[len(edited_during)]
                edited_during.append(deal)
                store.set_values("deals", deal, {"dealname": f"edited again {deal}"})

        handle.app.after_search = edit_one_already_read
        try:
            second = _run_json(project, env)
        finally:
            handle.app.after_search = None
        assert second["status"] in ("ok", "warning"), second
        assert len(edited_during) == 2

        with sqlite3.connect(project / "state" / "kam-sync.sqlite") as db:
            names = dict(db.execute("SELECT id, name FROM opportunity_snapshot"))
            deleted_deals = {
                r[0] for r in db.execute("SELECT id FROM opportunity_snapshot WHERE is_deleted = 1")
            }
            deleted_accounts = {
                r[0] for r in db.execute("SELECT id FROM account_snapshot WHERE is_deleted = 1")
            }
            owners = dict(db.execute("SELECT id, account_id FROM opportunity_snapshot"))
        assert set(archived) <= deleted_deals
        assert merged in deleted_accounts and survivor not in deleted_accounts
        assert {owners[d] for d in moved} == {survivor}
        # Every renamed deal was read, the ones edited during the pull included.
        assert [d for d in renamed if not str(names[d]).startswith("renamed")] == []

        time.sleep(store.search_lag_seconds + 0.1)
        third = _run_json(project, env)
        assert third["status"] in ("ok", "warning"), third
        with sqlite3.connect(project / "state" / "kam-sync.sqlite") as db:
            names = dict(db.execute("SELECT id, name FROM opportunity_snapshot"))
        assert all(names[d] == f"edited again {d}" for d in edited_during)


@pytest.mark.slow
def test_a_company_deleted_for_good_leaves_scope_at_the_id_reconciliation_and_gets_no_write(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    with sandbox_project("hubspot", project, accounts=80, seed=52) as (handle, env):
        store = handle.app.store
        assert (
            kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path).returncode
            == 0
        )
        assert _run_json(project, env)["status"] in ("ok", "warning")
        with sqlite3.connect(project / "state" / "kam-sync.sqlite") as db:
            written = [
                r[0] for r in db.execute("SELECT DISTINCT account_id FROM written_value ORDER BY 1")
            ]
        # Deleted for good (a permanent or GDPR deletion, or past the 90-day restore window):
        # neither listed, archived, searched nor named by a survivor.
        gone, survivor, merged = written[0], written[1], written[2]
        store.purge("companies", gone)
        response = CrmHands.connect("hubspot", handle).session.post(
            f"{handle.base_url}/crm/v3/objects/companies/merge",
            json={"primaryObjectId": survivor, "objectIdToMerge": merged},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        # A reconciliation period of two seconds, so the next run is due; and a new weight, so
        # every account in scope gets a write.
        config = project / "kam-sync.yaml"
        text = config.read_text()
        assert "    auth: private_app\n" in text
        config.write_text(
            text.replace(
                "    auth: private_app\n",
                f"    auth: private_app\n    id_reconciliation_days: {2 / 86_400}\n",
            )
        )
        scoring = project / "rules" / "scoring.yaml"
        rules = scoring.read_text()
        scoring.write_text(rules.replace("    weight: 25\n", "    weight: 26\n", 1))
        time.sleep(max(2.1, store.search_lag_seconds + 0.1))
        run = kam_sync_cli("run", "--json", "--project", str(project), env=env, cwd=tmp_path)
        assert run.returncode in (0, 3), run.stderr
        second = json.loads(run.stdout)

        assert second["status"] in ("ok", "warning"), second
        assert second["accounts_written"] > 10
        assert second["write_failures"] == 0 and second["dead_letters"] == 0
        with sqlite3.connect(project / "state" / "kam-sync.sqlite") as db:
            flags = dict(db.execute("SELECT id, is_deleted FROM account_snapshot"))
            queued = db.execute(
                "SELECT COUNT(*) FROM retry_queue WHERE account_id IN (?, ?)", (gone, merged)
            ).fetchone()
        assert flags[gone] == 1 and flags[merged] == 1 and flags[survivor] == 0
        assert queued == (0,)
        assert "hubspot: id reconciliation:" in run.stderr
        said = [line for line in run.stderr.splitlines() if f"account {merged} was merged" in line]
        assert len(said) == 1 and f"into account {survivor}" in said[0], run.stderr
        assert "not moved" in said[0]
