"""A run's life as an operator sees it: stopped by a signal, locked against a second run on the
same store (from another project folder too), taken over after a crash, and a `plan` that
changes nothing in the store."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from kam_sync.cli.demo_cmd import HUBSPOT_DEMO_BLOCK, SALESFORCE_DEMO_BLOCK
from kam_sync.cli.project_cmds import create_project
from kam_sync.sandbox.runner import SandboxHandle
from kam_sync.store import schema
from kam_sync.store.store import resolve_url
from tests.e2e.crm import (
    DEAL_OBJECT,
    CrmHands,
    kam_sync_cli,
    kam_sync_popen,
    sandbox_project,
    write_requests,
)
from tests.e2e.test_schedule import _pretend_missed, _scheduler, _wait_for_line
from tests.unit.store.conftest import store_url  # noqa: F401  (a fixture: SQLite and PostgreSQL)

CRMS = ["salesforce", "hubspot"]
SMALL_WRITE_BATCH = 10  # many push requests, so a signal lands between two of them


def _set_crm_option(project: Path, crm: str, line: str) -> None:
    path = project / "kam-sync.yaml"
    content = path.read_text()
    assert f"  {crm}:\n" in content
    path.write_text(content.replace(f"  {crm}:\n", f"  {crm}:\n    {line}\n", 1))


def _set_store_url(project: Path, url: str) -> None:
    path = project / "kam-sync.yaml"
    content = path.read_text()
    assert "url: sqlite:///state/kam-sync.sqlite" in content
    path.write_text(content.replace("url: sqlite:///state/kam-sync.sqlite", f"url: {url}", 1))


def _cli_ok(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = kam_sync_cli(*args, env=env, cwd=cwd)
    assert result.returncode in (0, 3), result.stderr
    return result


def _run_json(project: Path, env: dict[str, str]) -> dict[str, Any]:
    result = _cli_ok("run", "--json", "--project", str(project), env=env, cwd=project.parent)
    return dict(json.loads(result.stdout))


def _ledger(url: str, root: Path) -> list[tuple[int, str, str]]:
    """(id, mode, status) of every run, oldest first."""
    engine = create_engine(resolve_url(url, root))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(schema.run.c.id, schema.run.c.mode, schema.run.c.status).order_by(
                    schema.run.c.id
                )
            )
            return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
    finally:
        engine.dispose()


def _lock_holder(url: str, root: Path) -> str | None:
    engine = create_engine(resolve_url(url, root))
    try:
        with engine.connect() as conn:
            return conn.execute(select(schema.run_lock.c.holder)).scalar_one_or_none()
    except SQLAlchemyError:  # the store is not created yet
        return None
    finally:
        engine.dispose()


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _records_read(handle: SandboxHandle) -> int:
    return int(handle.stats().get("records_read", 0))


SQLITE_URL = "sqlite:///state/kam-sync.sqlite"


# -- point 2: SIGTERM and SIGINT -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
def test_sigterm_during_the_push_finishes_the_batch_records_interrupted_and_exits_6(
    tmp_path: Path, crm: str
) -> None:
    project = tmp_path / "project"
    with sandbox_project(crm, project) as (handle, env):
        _set_crm_option(project, crm, f"write_batch_size: {SMALL_WRITE_BATCH}")
        _cli_ok("provision", "--project", str(project), env=env, cwd=tmp_path)
        handle.set_faults("latency=150ms")
        handle.reset_stats()
        first = kam_sync_popen("run", "--json", "--project", str(project), env=env, cwd=tmp_path)
        _wait_for(lambda: write_requests(handle.stats()) >= 2, "the push to start")
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=120)
        assert first.returncode == 6, err
        summary = json.loads(out)
        assert summary["status"] == "interrupted" and summary["exit_code"] == 6
        assert 0 < summary["accounts_written"] < summary["accounts_to_write"]
        assert "stopped after writing" in summary["error"]
        assert _ledger(SQLITE_URL, project)[-1][2] == "interrupted"

        handle.set_faults(None)
        second = _run_json(project, env)
        assert second["status"] == "ok" and second["protected"] == 0
        assert second["accounts_written"] > 0, "the next run writes what the stopped one did not"
        third = _run_json(project, env)
        assert third["accounts_written"] == 0 and third["protected"] == 0, "it converged"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("crm", "signum"),
    [
        ("salesforce", signal.SIGTERM),
        ("hubspot", signal.SIGTERM),
        ("salesforce", signal.SIGINT),
    ],
)
def test_a_signal_during_the_pull_stops_before_anything_is_written_and_exits_6(
    tmp_path: Path, crm: str, signum: int
) -> None:
    project = tmp_path / "project"
    with sandbox_project(crm, project) as (handle, env):
        _cli_ok("provision", "--project", str(project), env=env, cwd=tmp_path)
        handle.set_faults("latency=300ms")
        handle.reset_stats()
        run = kam_sync_popen("run", "--project", str(project), env=env, cwd=tmp_path)
        _wait_for(lambda: _records_read(handle) > 0, "the pull to start")
        run.send_signal(signum)
        out, err = run.communicate(timeout=120)
        assert run.returncode == 6, err
        assert out.startswith("kam-sync run #1: interrupted"), out  # the summary is printed
        assert write_requests(handle.stats()) == 0
        assert _ledger(SQLITE_URL, project) == [(1, "run", "interrupted")]

        handle.set_faults(None)
        after = _run_json(project, env)
        assert after["status"] == "ok" and after["accounts_written"] > 0
        assert _run_json(project, env)["accounts_written"] == 0


@pytest.mark.slow
def test_a_second_signal_aborts_at_once_with_exit_130_and_the_next_run_converges(
    tmp_path: Path,
) -> None:
    crm = "salesforce"
    project = tmp_path / "project"
    with sandbox_project(crm, project) as (handle, env):
        _set_crm_option(project, crm, f"write_batch_size: {SMALL_WRITE_BATCH}")
        _cli_ok("provision", "--project", str(project), env=env, cwd=tmp_path)
        # Slow enough that the first signal's batch is still in flight when the second comes.
        handle.set_faults("latency=2s")
        handle.reset_stats()
        run = kam_sync_popen("run", "--project", str(project), env=env, cwd=tmp_path)
        _wait_for(lambda: write_requests(handle.stats()) >= 1, "the push to start", timeout=180)
        run.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        run.send_signal(signal.SIGTERM)
        _out, err = run.communicate(timeout=60)
        assert run.returncode == 130, err
        assert "interrupted" in err
        assert _ledger(SQLITE_URL, project)[-1][2] == "interrupted"

        handle.set_faults(None)
        after = _run_json(project, env)
        assert after["status"] == "ok" and after["protected"] == 0
        assert _run_json(project, env)["accounts_written"] == 0


@pytest.mark.slow
def test_sigterm_stops_schedule_after_the_batch_of_its_run_which_is_recorded_interrupted(
    tmp_path: Path,
) -> None:
    crm = "salesforce"
    project = tmp_path / "project"
    with sandbox_project(crm, project) as (handle, env):
        _set_crm_option(project, crm, f"write_batch_size: {SMALL_WRITE_BATCH}")
        _cli_ok("provision", "--project", str(project), env=env, cwd=tmp_path)
        text_ = (project / "kam-sync.yaml").read_text()
        (project / "kam-sync.yaml").write_text(
            text_.replace("misfire_grace_minutes: 120", "misfire_grace_minutes: 1440")
        )
        with _scheduler(project, env, tmp_path) as first:  # stores the job, nothing due
            _wait_for_line(first, "next run at")
            first.send_signal(signal.SIGTERM)
            # Generous: on a loaded machine (CI's three workers on two cores) shutting down the
            # scheduler and its store took over a minute once; the assertion is the exit code.
            assert first.wait(timeout=240) == 0
        _pretend_missed(project, timedelta(minutes=5))
        handle.set_faults("latency=150ms")
        handle.reset_stats()
        with _scheduler(project, env, tmp_path) as second:
            _wait_for(lambda: write_requests(handle.stats()) >= 2, "the scheduled run's push")
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=120) == 0
            written = write_requests(handle.stats())
        assert _ledger(SQLITE_URL, project) == [(1, "run", "interrupted")]
        assert written < -(-120 // SMALL_WRITE_BATCH), "it stopped before the end of the push"


# -- point 6: one run per store ----------------------------------------------------------------


def _two_projects_on_one_store(
    crm: str, handle: SandboxHandle, tmp_path: Path, url: str
) -> tuple[Path, Path]:
    if crm == "salesforce":
        block = SALESFORCE_DEMO_BLOCK.format(base_url=handle.base_url, ca=handle.ca_cert_path)
    else:
        block = HUBSPOT_DEMO_BLOCK.format(base_url=handle.base_url)
    folders = (tmp_path / "site-a", tmp_path / "site-b")
    for folder in folders:
        create_project(folder, crm, force=True, crm_block=block)
        _set_store_url(folder, url)
    return folders


@pytest.mark.slow
def test_two_project_folders_sharing_a_store_never_run_at_once(
    tmp_path: Path,
    store_url: str,  # noqa: F811
) -> None:
    crm = "salesforce"
    with sandbox_project(crm, tmp_path / "seed") as (handle, env):
        site_a, site_b = _two_projects_on_one_store(crm, handle, tmp_path, store_url)
        # Many slow writes: the first run lasts while the other folder tries twice.
        _set_crm_option(site_a, crm, "write_batch_size: 4")
        _cli_ok("provision", "--project", str(site_a), env=env, cwd=tmp_path)
        handle.set_faults("latency=400ms")
        first = kam_sync_popen("run", "--project", str(site_a), env=env, cwd=tmp_path)
        try:
            _wait_for(lambda: _lock_holder(store_url, site_a) is not None, "the first run's lock")
            second = kam_sync_cli("run", "--project", str(site_b), env=env, cwd=tmp_path)
            assert second.returncode == 5, second.stderr
            assert "another kam-sync run on this state store is in progress" in second.stderr
            assert f"pid {first.pid} on " in second.stderr and " since " in second.stderr
            plan = kam_sync_cli("plan", "--project", str(site_b), env=env, cwd=tmp_path)
            assert plan.returncode == 5, plan.stderr
        finally:
            _out, err = first.communicate(timeout=300)
        assert first.returncode in (0, 3), err
        ledger = _ledger(store_url, site_a)
        assert [status for _, _, status in ledger] == ["ok"], "the running first run was kept"
        assert _lock_holder(store_url, site_a) is None, "the lock is released at the end"
        handle.set_faults(None)
        assert _run_json(site_b, env)["accounts_written"] == 0, "site b continues where a ended"


@pytest.mark.slow
def test_a_lock_left_by_a_killed_run_is_taken_over_and_only_its_run_is_abandoned(
    tmp_path: Path,
    store_url: str,  # noqa: F811
) -> None:
    crm = "hubspot"
    with sandbox_project(crm, tmp_path / "seed") as (handle, env):
        site_a, site_b = _two_projects_on_one_store(crm, handle, tmp_path, store_url)
        _cli_ok("provision", "--project", str(site_a), env=env, cwd=tmp_path)
        handle.set_faults("latency=300ms")
        killed = kam_sync_popen("run", "--project", str(site_a), env=env, cwd=tmp_path)
        _wait_for(lambda: _lock_holder(store_url, site_a) is not None, "the first run's lock")
        _wait_for(lambda: len(_ledger(store_url, site_a)) == 1, "the first run to begin")
        killed.kill()  # SIGKILL: nothing is released by the process itself
        killed.communicate(timeout=30)
        handle.set_faults(None)
        after = _run_json(site_b, env)
        assert after["status"] == "ok"
        assert [s for _, _, s in _ledger(store_url, site_b)] == ["abandoned", "ok"]
        assert _lock_holder(store_url, site_b) is None


# -- point 7: plan is read-only ----------------------------------------------------------------


def _dump(url: str, root: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the store, in a stable order."""
    engine = create_engine(resolve_url(url, root))
    try:
        with engine.connect() as conn:
            tables = sorted(inspect(conn).get_table_names())
            return {
                name: sorted(
                    (tuple(r) for r in conn.execute(text(f'SELECT * FROM "{name}"'))), key=repr
                )
                for name in tables
            }
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
def test_plan_after_crm_changes_leaves_the_store_as_it_was_and_the_next_run_pulls_them(
    tmp_path: Path, crm: str
) -> None:
    project = tmp_path / "project"
    with sandbox_project(crm, project) as (handle, env):
        hands = CrmHands.connect(crm, handle)
        _cli_ok("provision", "--project", str(project), env=env, cwd=tmp_path)
        full = _run_json(project, env)
        assert _run_json(project, env)["accounts_written"] == 0

        db = project / "state" / "kam-sync.sqlite"
        with __import__("sqlite3").connect(db) as conn:
            deal, account = conn.execute(
                "SELECT o.id, o.account_id FROM opportunity_snapshot o "
                "JOIN account_snapshot a ON a.id = o.account_id "
                "WHERE o.is_closed = 0 AND a.is_deleted = 0 AND a.kam_tier IN ('none', 'watchlist') "
                "ORDER BY o.id LIMIT 1"
            ).fetchone()
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
        hands.update(DEAL_OBJECT[crm], deal, won)

        before = _dump(SQLITE_URL, project)
        plan = kam_sync_cli(
            "plan", "--format", "json", "--project", str(project), env=env, cwd=tmp_path
        )
        assert plan.returncode in (0, 3), plan.stderr
        planned = json.loads(plan.stdout)
        assert account in {c["account_id"] for c in planned["changes"]}, "plan sees the change"
        after = _dump(SQLITE_URL, project)

        plan_rows = [r for r in after.pop("run") if r not in before["run"]]
        assert len(plan_rows) == 1 and plan_rows[0][4] == "plan"
        before.pop("run")
        assert after == before, "plan changed the store"

        run = _run_json(project, env)
        assert run["pulled"]["opportunity"] < full["pulled"]["opportunity"], "pulled incrementally"
        assert run["pulled"]["opportunity"] >= 1, "the won deal is pulled by the run"
        assert run["accounts_written"] == planned["accounts_to_write"]
        assert run["changes_by_field"] == planned["changes_by_field"]
