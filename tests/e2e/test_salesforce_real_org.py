"""Issue 13 end to end: records a real org deletes past `queryAll` leave scope and get no writes;
a first pull through Bulk API 2.0 sends no ORDER BY."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.e2e.crm import kam_sync_cli, sandbox_project


def _run_json(project: Path, env: dict[str, str]) -> dict:
    result = kam_sync_cli("run", "--json", "--project", str(project), env=env, cwd=project.parent)
    assert result.returncode in (0, 3), result.stderr
    return json.loads(result.stdout)


def _store(project: Path) -> sqlite3.Connection:
    return sqlite3.connect(project / "state" / "kam-sync.sqlite")


@pytest.mark.slow
def test_hard_deleted_and_merged_accounts_leave_scope_and_get_no_writes(tmp_path: Path) -> None:
    project = tmp_path / "project"
    with sandbox_project("salesforce", project, accounts=120, seed=41) as (handle, env):
        provisioned = kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path)
        assert provisioned.returncode == 0, provisioned.stderr
        assert _run_json(project, env)["status"] == "ok"
        store = handle.app.store
        with _store(project) as db:
            with_deals = [
                r[0]
                for r in db.execute(
                    "SELECT a.id FROM account_snapshot a WHERE a.is_deleted = 0 AND EXISTS "
                    "(SELECT 1 FROM opportunity_snapshot o WHERE o.account_id = a.id "
                    "AND o.is_deleted = 0) ORDER BY a.id"
                )
            ]
        hard, survivor, loser = with_deals[0], with_deals[1], with_deals[2]
        loser_deals = [r["Id"] for r in store.records("Opportunity") if r["AccountId"] == loser]
        gone_deal = next(r["Id"] for r in store.records("Opportunity") if r["AccountId"] == hard)
        # Hard deletes and a merge whose loser is purged from the recycle bin: queryAll returns
        # none of them any more; only the delete log names them.
        store.hard_delete("Opportunity", gone_deal)
        store.hard_delete("Account", hard)
        store.merge("Account", survivor, loser)
        store.purge_recycle_bin("Account")
        handle.reset_stats()
        second = _run_json(project, env)

        assert second["status"] == "ok", second
        with _store(project) as db:
            flags = dict(db.execute("SELECT id, is_deleted FROM account_snapshot"))
            moved = {
                r[0]: r[1]
                for r in db.execute(
                    "SELECT id, account_id FROM opportunity_snapshot WHERE is_deleted = 0"
                )
            }
            deal_gone = db.execute(
                "SELECT is_deleted FROM opportunity_snapshot WHERE id = ?", (gone_deal,)
            ).fetchone()
        assert flags[hard] == 1 and flags[loser] == 1 and flags[survivor] == 0
        assert deal_gone == (1,)
        assert all(moved[d] == survivor for d in loser_deals), "the merged deals count for B"
        assert second["write_failures"] == 0 and second["dead_letters"] == 0
        assert second["deleted"]["account"] >= 2

        # Deleted so long ago that the delete log no longer has it: the id reconciliation takes
        # it out of scope. Its period is shortened to 2 seconds so the next run crosses one.
        config = project / "kam-sync.yaml"
        text = config.read_text()
        assert "    auth: client_credentials\n" in text
        config.write_text(
            text.replace(
                "    auth: client_credentials\n",
                f"    auth: client_credentials\n    id_reconciliation_days: {2 / 86_400}\n",
            )
        )
        forgotten = with_deals[3]
        store.hard_delete("Account", forgotten)
        store.purge_delete_log("Account", store.clock() + timedelta(minutes=1))
        time.sleep(2.1)
        third = _run_json(project, env)

        assert third["status"] == "ok" and third["write_failures"] == 0
        with _store(project) as db:
            (flag,) = db.execute(
                "SELECT is_deleted FROM account_snapshot WHERE id = ?", (forgotten,)
            ).fetchone()
        assert flag == 1


@pytest.mark.slow
def test_a_merged_away_account_gets_no_write_and_the_run_names_it_with_its_survivor(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    with sandbox_project("salesforce", project, accounts=80, seed=51) as (handle, env):
        provisioned = kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path)
        assert provisioned.returncode == 0, provisioned.stderr
        assert _run_json(project, env)["status"] == "ok"
        store = handle.app.store
        with _store(project) as db:
            written = [
                r[0] for r in db.execute("SELECT DISTINCT account_id FROM written_value ORDER BY 1")
            ]
        survivor, loser = written[0], written[1]
        before = {k: v for k, v in store.get("Account", loser).items() if k.startswith("KAM_")}
        store.merge("Account", survivor, loser)  # the loser goes to the recycle bin
        # A new weight changes every account's score: every account in scope gets a write.
        scoring = project / "rules" / "scoring.yaml"
        text = scoring.read_text()
        assert "    weight: 25\n" in text
        scoring.write_text(text.replace("    weight: 25\n", "    weight: 26\n", 1))
        run = kam_sync_cli("run", "--json", "--project", str(project), env=env, cwd=tmp_path)
        assert run.returncode in (0, 3), run.stderr
        second = json.loads(run.stdout)

        assert second["status"] == "ok", second
        assert second["accounts_written"] > 10
        assert second["write_failures"] == 0 and second["dead_letters"] == 0
        after = {k: v for k, v in store.get("Account", loser).items() if k.startswith("KAM_")}
        assert after == before, "nothing was written to the merged-away account"
        with _store(project) as db:
            (flag,) = db.execute(
                "SELECT is_deleted FROM account_snapshot WHERE id = ?", (loser,)
            ).fetchone()
        assert flag == 1
        # The run says plainly that the loser's history is not moved, naming both accounts.
        said = [line for line in run.stderr.splitlines() if f"account {loser} was merged" in line]
        assert len(said) == 1 and f"into account {survivor}" in said[0], run.stderr
        assert "not moved" in said[0]


@pytest.mark.slow
def test_quiet_runs_in_a_row_list_ids_at_most_once_a_period_and_warn_of_no_missed_deletion(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    with sandbox_project("salesforce", project, accounts=60, seed=47) as (_handle, env):
        provisioned = kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path)
        assert provisioned.returncode == 0, provisioned.stderr
        assert _run_json(project, env)["status"] == "ok"
        # Nothing changes in the org: the watermark stays where the seed's newest stamp put it.
        quiet = []
        for _ in range(2):
            run = kam_sync_cli("run", "--json", "--project", str(project), env=env, cwd=tmp_path)
            assert run.returncode in (0, 3), run.stderr
            quiet.append(run.stderr)

    listings = sum(err.count("id reconciliation:") for err in quiet)
    # Two objects; a weekly boundary between the runs may make one listing of each due.
    assert listings <= 2, listings
    assert not any("may be missing" in err or "delete log" in err for err in quiet)


def _scores_after_a_run(tmp_path: Path, name: str, *, multi_currency: bool) -> tuple[dict, dict]:
    from decimal import Decimal

    from kam_sync.sandbox.salesforce.currency import enable_multi_currency, set_currency

    project = tmp_path / name
    with sandbox_project("salesforce", project, accounts=80, seed=46) as (handle, env):
        store = handle.app.store
        if multi_currency:
            # Rates whose conversions invert exactly, so the twin's figures are the same.
            enable_multi_currency(
                store, corporate="USD", rates={"EUR": Decimal("2"), "JPY": Decimal("150")}
            )
            priced = sorted(r["Id"] for r in store.records("Opportunity") if r.get("Amount"))
            for number, record_id in enumerate(priced):
                if number % 3:
                    set_currency(
                        store, "Opportunity", record_id, "EUR" if number % 3 == 1 else "JPY"
                    )
        provisioned = kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path)
        assert provisioned.returncode == 0, provisioned.stderr
        summary = _run_json(project, env)
        with _store(project) as db:
            amounts = dict(db.execute("SELECT id, amount FROM opportunity_snapshot"))
        values = {r["Id"]: (r["KAM_Score__c"], r["KAM_Tier__c"]) for r in store.records("Account")}
        return summary, {"amounts": amounts, "values": values}


@pytest.mark.slow
def test_a_multi_currency_portfolio_scores_as_its_single_currency_twin(tmp_path: Path) -> None:
    single_summary, single = _scores_after_a_run(tmp_path, "single", multi_currency=False)
    multi_summary, multi = _scores_after_a_run(tmp_path, "multi", multi_currency=True)

    assert single_summary["currency"] is None
    assert multi_summary["currency"] == "USD"
    assert multi["amounts"] == single["amounts"]
    assert multi["values"] == single["values"]
    assert any(v[0] is not None for v in multi["values"].values())
