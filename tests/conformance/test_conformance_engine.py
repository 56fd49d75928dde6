"""Conformance through the engine: a quota stop mid-push ends every CRM's run the same way."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from kam_sync.cli.project_cmds import create_project
from kam_sync.cli.sync_cmds import NOT_CALLS
from tests.conformance.conftest import DAILY_API_LIMIT, CrmAdapter, write_requests
from tests.e2e.crm import kam_sync_cli

WRITE_BATCH = 10  # about a dozen write requests for the portfolio's first run
SPARE_CALLS = 4  # what the run's budget allows beyond what a plan's pull takes


def _set_crm_option(project: Path, crm: str, line: str) -> None:
    path = project / "kam-sync.yaml"
    content = path.read_text()
    assert f"  {crm}:\n" in content
    path.write_text(content.replace(f"  {crm}:\n", f"  {crm}:\n    {line}\n", 1))


@pytest.mark.slow
def test_a_run_whose_budget_runs_out_mid_push_exits_4_and_queues_no_failure(
    crm: CrmAdapter, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    with crm.sandbox(accounts=120, seed=61) as sandbox:
        block, secrets = crm.project(sandbox)
        env = {**os.environ, **secrets}
        create_project(project, crm.crm, force=True, crm_block=block)
        _set_crm_option(project, crm.crm, f"write_batch_size: {WRITE_BATCH}")
        cli = ("--project", str(project))
        provision = kam_sync_cli("provision", *cli, env=env, cwd=tmp_path)
        assert provision.returncode == 0, provision.stderr

        # What a run spends before its first write: a plan pulls the same and writes nothing.
        plan = kam_sync_cli("plan", "--format", "json", *cli, env=env, cwd=tmp_path)
        assert plan.returncode in (0, 3), plan.stderr
        calls = json.loads(plan.stdout)["api_calls"]
        before_writes = sum(n for kind, n in calls.items() if kind not in NOT_CALLS)
        share = (before_writes + SPARE_CALLS) * 100 / DAILY_API_LIMIT
        _set_crm_option(project, crm.crm, f"quota_max_percent_per_run: {share:.4f}")

        sandbox.reset_stats()
        run = kam_sync_cli("run", "--json", *cli, env=env, cwd=tmp_path)
        writes = write_requests(sandbox)

    assert run.returncode == 4, run.stdout + run.stderr
    assert 0 < writes < -(-120 // WRITE_BATCH), "the run stopped part-way through its push"
    with sqlite3.connect(project / "state" / "kam-sync.sqlite") as db:
        queued = db.execute("SELECT last_error_code, COUNT(*) FROM retry_queue GROUP BY 1")
        assert queued.fetchall() == [], "a quota stop is no write failure"
    if run.stdout.strip():
        report = json.loads(run.stdout)
        assert report.get("accounts_failed", 0) == 0, report
