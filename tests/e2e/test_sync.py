"""The nightly sync driven through the `kam-sync` command, as an ops engineer runs it, against
the sandbox CRM over HTTP, for both CRMs."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.e2e.crm import (
    ACCOUNT_OBJECT,
    DEAL_OBJECT,
    TIER_FIELD,
    CrmHands,
    kam_sync_cli,
    kam_sync_popen,
    sandbox_project,
    write_requests,
)

CRMS = ["salesforce", "hubspot"]


def _run_json(project: Path, env: dict[str, str]) -> dict:
    result = kam_sync_cli("run", "--json", "--project", str(project), env=env, cwd=project.parent)
    assert result.returncode in (0, 3), result.stderr
    return json.loads(result.stdout)


def _store(project: Path) -> sqlite3.Connection:
    return sqlite3.connect(project / "state" / "kam-sync.sqlite")


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
def test_full_lifecycle_writes_only_what_changed(tmp_path: Path, crm: str) -> None:
    project = tmp_path / "project"
    with sandbox_project(crm, project) as (handle, env):
        hands = CrmHands.connect(crm, handle)

        provisioned = kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path)
        assert provisioned.returncode == 0, provisioned.stderr
        again = kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "unchanged" in again.stdout and "created" not in again.stdout

        validated = kam_sync_cli("validate", "--project", str(project), env=env, cwd=tmp_path)
        assert validated.returncode == 0, validated.stderr

        handle.reset_stats()
        plan = kam_sync_cli(
            "plan", "--format", "json", "--project", str(project), env=env, cwd=tmp_path
        )
        assert plan.returncode == 0, plan.stderr
        planned = json.loads(plan.stdout)
        assert planned["accounts_to_write"] > 0
        assert write_requests(handle.stats()) == 0, "plan must not write to the CRM"

        handle.reset_stats()
        first = _run_json(project, env)
        assert first["status"] == "ok"
        assert 0 < first["peak_memory_mib"] < 1024  # the run's peak RSS, reported to ops
        # The time each step took (recording the run not counted).
        steps = first["step_seconds"]
        assert set(steps) == {
            "preflight",
            "start",
            "pull",
            "assess",
            "diff",
            "record governance",
            "push",
        }
        assert all(seconds >= 0 for seconds in steps.values())
        # Each step is rounded to the millisecond, and timed on the monotonic clock.
        assert sum(steps.values()) <= first["duration_seconds"] + 0.05
        assert first["accounts_written"] == planned["accounts_to_write"]
        batch = 200 if crm == "salesforce" else 100
        assert write_requests(handle.stats()) == -(-first["accounts_written"] // batch)
        values = hands.kam_values()
        assert all(v[TIER_FIELD[crm][0]] for v in values.values()), "every account got a tier"

        handle.reset_stats()
        second = _run_json(project, env)
        assert second["accounts_written"] == 0
        assert write_requests(handle.stats()) == 0, "a run right after a run writes nothing"

        # Change data in the CRM: a person edits a KAM field, an account is deleted, a deal is won.
        with _store(project) as db:
            accounts = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM account_snapshot WHERE is_deleted = 0 ORDER BY id"
                )
            ]
            edited, deleted = accounts[0], accounts[1]
            winner = db.execute(
                "SELECT o.id, o.account_id FROM opportunity_snapshot o JOIN account_snapshot a ON a.id = o.account_id "
                "WHERE o.is_closed = 0 AND a.is_deleted = 0 AND a.kam_tier IN ('none', 'watchlist') "
                "AND o.account_id NOT IN (?, ?) ORDER BY o.id LIMIT 1",
                (edited, deleted),
            ).fetchone()
        assert winner is not None
        tier_field, tier_value = TIER_FIELD[crm]
        hands.update(
            ACCOUNT_OBJECT[crm],
            edited,
            {
                tier_field: tier_value
                if values[edited][tier_field] != tier_value
                else ("Watchlist" if crm == "salesforce" else "watchlist")
            },
        )
        hands.delete(ACCOUNT_OBJECT[crm], deleted)
        won = (
            {
                "StageName": "Closed Won",
                "Amount": 25_000_000,
                "CloseDate": time.strftime("%Y-%m-%d"),
            }
            if crm == "salesforce"
            else {
                "dealstage": "closedwon",
                "amount": "25000000",
                "closedate": time.strftime("%Y-%m-%dT00:00:00Z"),
            }
        )
        hands.update(DEAL_OBJECT[crm], winner[0], won)

        plan = kam_sync_cli(
            "plan", "--format", "json", "--project", str(project), env=env, cwd=tmp_path
        )
        assert plan.returncode == 0, plan.stderr
        expected = json.loads(plan.stdout)
        changed_accounts = {c["account_id"] for c in expected["changes"]}
        assert winner[1] in changed_accounts, "the account that won a big deal is re-assessed"
        assert deleted not in changed_accounts, "a deleted account is out of scope"
        assert any(
            p["account_id"] == edited and p["field"] == "kam_tier" for p in expected["protected"]
        )

        handle.reset_stats()
        third = _run_json(project, env)
        assert third["accounts_written"] == expected["accounts_to_write"]
        assert third["protected"] >= 1
        after = hands.kam_values()
        assert deleted not in after
        assert after[edited][tier_field] != values[edited][tier_field], "the person's edit is kept"
        flags = after[edited][("KAM_Flags__c" if crm == "salesforce" else "kam_flags")] or ""
        assert ("Manual Override" if crm == "salesforce" else "manual_override") in flags

        status = kam_sync_cli("status", "--project", str(project), env=env, cwd=tmp_path)
        assert status.returncode == 0
        assert "last runs:" in status.stdout and "watermarks:" in status.stdout

        explain = kam_sync_cli(
            "explain", winner[1], "--json", "--project", str(project), env=env, cwd=tmp_path
        )
        assert explain.returncode == 0, explain.stderr
        report = json.loads(explain.stdout)
        assert report["account_id"] == winner[1]
        assert set(report["factors"]) >= {"current_revenue", "growth_potential"}
        assert report["stage_gates"]


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
def test_a_second_concurrent_run_is_refused_with_exit_code_5(tmp_path: Path, crm: str) -> None:
    project = tmp_path / "project"
    with sandbox_project(crm, project, faults="latency=400ms") as (_handle, env):
        assert (
            kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path).returncode
            == 0
        )
        first = kam_sync_popen("run", "--project", str(project), env=env, cwd=tmp_path)
        try:
            deadline = time.monotonic() + 30
            while not _lock_held(project):
                assert time.monotonic() < deadline, "the first run never took the lock"
                time.sleep(0.05)
            second = kam_sync_cli("run", "--project", str(project), env=env, cwd=tmp_path)
            assert second.returncode == 5
            assert "another kam-sync run on this state store is in progress" in second.stderr
        finally:
            first.wait(timeout=300)
        assert first.returncode in (0, 3)


def _lock_held(project: Path) -> bool:
    """The store's run-lock row exists (the first run holds the lock)."""
    if not (project / "state" / "kam-sync.sqlite").exists():
        return False
    try:
        with _store(project) as db:
            return db.execute("SELECT count(*) FROM run_lock").fetchone()[0] == 1
    except sqlite3.OperationalError:  # not migrated yet
        return False


def _converge(project: Path, env: dict[str, str], runs: int = 6) -> None:
    for _ in range(runs):
        summary = _run_json(project, env)
        if (
            summary["status"] == "ok"
            and summary["write_failures"] == 0
            and summary["accounts_written"] == 0
        ):
            return
    raise AssertionError("the CRM did not converge")


def _reference_state(crm: str, tmp_path: Path, accounts: int = 120) -> dict[str, dict[str, object]]:
    project = tmp_path / "reference"
    with sandbox_project(crm, project, accounts=accounts) as (handle, env):
        assert (
            kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path).returncode
            == 0
        )
        _converge(project, env)
        return _comparable(CrmHands.connect(crm, handle).kam_values())


def _comparable(values: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    return {k: dict(fields) for k, fields in values.items()}


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
def test_faults_do_not_change_the_final_crm_state(tmp_path: Path, crm: str) -> None:
    expected = _reference_state(crm, tmp_path)
    project = tmp_path / "faulty"
    faults = "429=0.08,503=0.05,retry_after=0,lock=0.05,session_expiry=25"
    with sandbox_project(crm, project, faults=faults) as (handle, env):
        assert (
            kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path).returncode
            == 0
        )
        _converge(project, env)
        assert handle.stats()["faults_total"] > 0, "faults were injected"
        handle.set_faults(None)
        assert _comparable(CrmHands.connect(crm, handle).kam_values()) == expected


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
def test_a_run_killed_mid_push_converges_to_the_same_state(tmp_path: Path, crm: str) -> None:
    import signal

    expected = _reference_state(crm, tmp_path, accounts=800)
    project = tmp_path / "killed"
    with sandbox_project(crm, project, accounts=800, faults="write:latency=500ms") as (handle, env):
        assert (
            kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path).returncode
            == 0
        )
        handle.reset_stats()
        run = kam_sync_popen("run", "--project", str(project), env=env, cwd=tmp_path)
        deadline = time.monotonic() + 120
        # Killed after the first write batch was answered, while the next ones are in flight.
        while write_requests(handle.stats()) < 2:
            assert run.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        handle.set_faults(None)
        _converge(project, env)
        assert _comparable(CrmHands.connect(crm, handle).kam_values()) == expected
