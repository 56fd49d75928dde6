"""`report.after_run`: every run writes the HTML report, a run that fails too, and the ledger
keeps each run's exit code (shown by the report and by `status`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.crm import kam_sync_cli, sandbox_project


@pytest.mark.slow
def test_every_run_writes_the_report_with_its_exit_code_even_when_it_fails(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    with sandbox_project("salesforce", project, accounts=60) as (_, env):
        config = project / "kam-sync.yaml"
        text = config.read_text()
        assert "  # after_run: reports/kam-sync.html\n" in text  # init's commented example
        config.write_text(
            text.replace(
                "  # after_run: reports/kam-sync.html\n", "  after_run: reports/kam.html\n"
            )
        )
        args = ("--project", str(project))
        assert kam_sync_cli("provision", *args, env=env, cwd=tmp_path).returncode == 0
        report = project / "reports" / "kam.html"

        first = kam_sync_cli("run", *args, env=env, cwd=tmp_path)
        assert first.returncode in (0, 3), first.stderr
        page = report.read_text(encoding="utf-8")
        assert "Last sync: run #1" in page and f"exit code {first.returncode}." in page
        assert 'id="chart-tiers"' in page and 'id="chart-runs"' in page

        # A mapping that does not fit the CRM stops the run with exit 2: the report says so.
        mapping = project / "mappings" / "salesforce.yaml"
        mapping.write_text(
            mapping.read_text().replace("industry: Industry\n", "industry: Industy\n", 1)
        )
        failed = kam_sync_cli("run", *args, env=env, cwd=tmp_path)
        assert failed.returncode == 2, failed.stderr
        assert "Last sync: run #2" in report.read_text(encoding="utf-8")
        assert "status failed, exit code 2." in report.read_text(encoding="utf-8")

        status = kam_sync_cli("status", "--json", *args, env=env, cwd=tmp_path)
        runs = json.loads(status.stdout)["runs"]
        assert [(r["id"], r["exit_code"]) for r in runs] == [(2, 2), (1, first.returncode)]
