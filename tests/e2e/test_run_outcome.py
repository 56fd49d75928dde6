"""What a run hands back to its caller: a run lets its assessment go before the push (its peak
memory came on top of it) unless asked to keep it, as the demo does; a plan keeps it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kam_sync.cli.provision_cmd import provision
from kam_sync.cli.sync_cmds import execute
from kam_sync.config.loader import load_project
from tests.e2e.crm import sandbox_project


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
