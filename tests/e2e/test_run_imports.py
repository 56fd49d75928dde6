"""A whole `kam-sync run` against the sandbox CRM loads no module it does not use: no HTML
report (unless report.after_run asks for one), no review or backtest engine, no sandbox, no
shell completion, no scheduler (issue 14, point 5: start-up is part of a run's wall time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.crm import kam_sync_cli, sandbox_project
from tests.unit.cli.test_startup_imports import NOT_LOADED_BY_A_RUN, among

# `kam-sync run` as the console script runs it, then the modules it held, as one JSON line.
RUN_AND_LIST_MODULES = (
    "import json, sys\n"
    "from kam_sync.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "print(json.dumps(sorted(sys.modules)))\n"
    "sys.exit(code)\n"
)


@pytest.mark.slow
@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_run_loads_no_report_review_sandbox_or_completion_module(
    tmp_path: Path, crm: str
) -> None:
    project = tmp_path / "project"
    with sandbox_project(crm, project, accounts=30) as (_handle, env):
        provisioned = kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path)
        assert provisioned.returncode == 0, provisioned.stderr
        result = subprocess.run(
            [sys.executable, "-c", RUN_AND_LIST_MODULES, "run", "-q", "--project", str(project)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert result.returncode in (0, 3), result.stderr
    modules = set(json.loads(result.stdout.splitlines()[-1]))
    assert {"kam_sync.engine.pipeline", "kam_sync.store"} <= modules  # it did run
    assert among(modules, NOT_LOADED_BY_A_RUN) == []
