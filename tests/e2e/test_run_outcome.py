"""What a run hands back to its caller: a run lets its assessment go before the push (its peak
memory came on top of it) unless asked to keep it, as the demo does; a plan keeps it. The
command's output and log are whole when the process ends."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from kam_sync.cli.provision_cmd import provision
from kam_sync.cli.sync_cmds import execute
from kam_sync.config.loader import load_project
from tests.e2e.crm import kam_sync_cli, sandbox_project


def _governance_runs(root: Path) -> int:
    with sqlite3.connect(root / "state" / "kam-sync.sqlite") as db:
        return int(db.execute("SELECT COUNT(DISTINCT run_id) FROM key_list_history").fetchone()[0])


def test_a_run_keeps_its_assessment_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "project"
    with sandbox_project("hubspot", root, accounts=40, seed=5) as (_handle, env):
        for key, value in env.items():
            if key.startswith("KAM_SYNC_"):
                monkeypatch.setenv(key, value)
        assert provision(load_project(root)) == 0

        first = execute(load_project(root), "run", quiet=True)
        assert first.summary.status == "ok", first.summary.error
        assert first.summary.accounts_written > 0
        assert first.assessment is None
        assert first.plan is not None

        kept = execute(load_project(root), "run", quiet=True, keep_assessment=True)
        assert kept.summary.status == "ok", kept.summary.error
        assert kept.assessment is not None
        assert kept.assessment.assessments.height == kept.summary.scored

        plan = execute(load_project(root), "plan", quiet=True)
        assert plan.assessment is not None

    # Letting the assessment go came after governance was recorded, for both runs.
    assert _governance_runs(root) == 2


def test_the_command_ends_with_its_output_and_log_whole(tmp_path: Path) -> None:
    # The console script skips the interpreter's teardown: the JSON summary, the log file's
    # last line and the exit code must all still be there.
    root = tmp_path / "project"
    log_file = tmp_path / "run.log"
    with sandbox_project("salesforce", root, accounts=30, seed=9) as (_handle, env):
        cli = ("--project", str(root))
        assert kam_sync_cli("provision", *cli, env=env, cwd=tmp_path).returncode == 0
        run = kam_sync_cli(
            "run", "--json", "-v", "--log-file", str(log_file), *cli, env=env, cwd=tmp_path
        )

    summary = json.loads(run.stdout)
    assert run.returncode == summary["exit_code"], run.stderr
    assert summary["status"] == "ok"
    last = log_file.read_text().rstrip("\n").splitlines()[-1]
    assert f"run #{summary['run_id']} ended" in last, last
