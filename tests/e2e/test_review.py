"""`plan --rules DIR` after a pull, `plan --select`, and `explain` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.crm import kam_sync_cli, sandbox_project, write_requests


@pytest.mark.slow
def test_plan_with_proposed_rules_after_a_pull_previews_them_and_writes_nothing(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    proposed = tmp_path / "proposed"
    proposed.mkdir()
    with sandbox_project("salesforce", project, accounts=150) as (handle, env):
        provisioned = kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path)
        assert provisioned.returncode == 0, provisioned.stderr
        first = kam_sync_cli("run", "--json", "--project", str(project), env=env, cwd=tmp_path)
        assert first.returncode in (0, 3), first.stderr
        scoring = (project / "rules" / "scoring.yaml").read_text(encoding="utf-8")
        scoring = scoring.replace(
            "label: Relationship strength\n    weight: 15",
            "label: Relationship strength\n    weight: 60",
        )
        (proposed / "scoring.yaml").write_text(scoring, encoding="utf-8")
        handle.reset_stats()
        plan = kam_sync_cli("plan", "--project", str(project), "--rules", str(proposed),
                            "--format", "json", env=env, cwd=tmp_path)  # fmt: skip
        assert plan.returncode in (0, 3), plan.stderr
        data = json.loads(plan.stdout)
        assert data["source"] == "after a pull"
        assert data["accounts"] > 100 and data["tier_changes"]
        assert all(c["name"] for c in data["tier_changes"])
        assert write_requests(handle.stats()) == 0, "a preview writes nothing"

        table = kam_sync_cli("plan", "--project", str(project), "--select",
                             "tier IN ('strategic', 'key')", env=env, cwd=tmp_path)  # fmt: skip
        assert table.returncode in (0, 3), table.stderr
        assert "kam-sync plan (nothing was written)" in table.stdout
