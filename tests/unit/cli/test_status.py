"""`kam-sync status`: each run's duration, exit code, alerts, writes and failures; no list is
cut without saying how many it left out, and `--all` lists everything."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kam_sync.cli.main import main
from kam_sync.config.loader import load_project
from kam_sync.store import open_store
from tests.conftest import init_project

GROWTH = {"kind": "key_list_growth", "message": "the key list grew", "accounts": []}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = init_project(tmp_path / "project")
    loaded = load_project(root)
    store = open_store(loaded.config.store.url, root)
    try:
        for i in range(12):
            run_id = store.begin_run(as_of=datetime(2026, 6, 1 + i, tzinfo=UTC), mode="run")
            store.finish_run(
                run_id,
                status="ok",
                counts={"accounts_written": i, "fields_written": 2 * i, "write_failures": 1},
                api_calls={"query": 3, "write": 1, "bulk_jobs": 1},
                alerts=[GROWTH] if i == 11 else [],
                exit_code=3,
            )
        store.quarantine(
            [("account", f"001Q{i:03d}", "employees", "not a number") for i in range(25)],
            run_id=12,
        )
    finally:
        store.close()
    return root


def _status(project: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    assert main(["status", "--project", str(project), *extra]) == 0
    return capsys.readouterr().out


def test_status_shows_each_runs_duration_exit_code_alerts_writes_and_failures(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _status(project, capsys)
    last = next(line for line in out.splitlines() if line.startswith("  #12 "))
    assert " s, exit 3;" in last
    assert "written 11 accounts (22 fields), failed 1, alerts 1 (key_list_growth)" in last
    assert "API calls 4" in last  # Bulk API jobs are not calls


def test_status_says_how_many_runs_and_records_it_left_out(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _status(project, capsys)
    assert out.count("\n  #") == 10
    assert "  ... and 2 more runs (--all lists them all)" in out
    assert "quarantine: 25 records" in out
    assert out.count("  account 001Q") == 20
    assert "  ... and 5 more (--all lists them all)" in out


def test_status_all_lists_every_run_and_record(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _status(project, capsys, "--all")
    assert out.count("\n  #") == 12
    assert out.count("  account 001Q") == 25
    assert "more" not in out


def test_status_json_carries_duration_exit_code_and_the_ledgers_size(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(_status(project, capsys, "--json"))
    assert data["runs_total"] == 12 and len(data["runs"]) == 10
    assert data["runs"][0]["exit_code"] == 3
    assert data["runs"][0]["duration_seconds"] >= 0
    assert len(json.loads(_status(project, capsys, "--json", "--all"))["runs"]) == 12
