"""Conditions are checked before they run, for both CRMs: `run` with a condition that would fail
on the CRM's data stops with exit 2 at the condition's file:line, before it pulls or writes
anything; and should a value still make a condition fail mid-run, the run stops with exit 2 at
the same place, having written nothing, with no CRM value in its output."""

from __future__ import annotations

import contextlib
import io
import sqlite3
from pathlib import Path

import pytest

from kam_sync.cli.main import main
from kam_sync.config import condition_samples
from tests.e2e.crm import kam_sync_cli, sandbox_project, write_requests

CRMS = ["salesforce", "hubspot"]
ACCOUNT_OBJECT_LINE = {"salesforce": "crm_object: Account", "hubspot": "crm_object: companies"}


def _set_account_filter(project: Path, crm: str, condition: str) -> tuple[Path, int]:
    """Put ``condition`` as the account record filter; return the mapping file and its line."""
    mapping = project / "mappings" / f"{crm}.yaml"
    lines = mapping.read_text(encoding="utf-8").splitlines()
    lines = [line for line in lines if not line.strip().startswith("filter:")]
    at = next(i for i, line in enumerate(lines) if ACCOUNT_OBJECT_LINE[crm] in line)
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines.insert(at + 1, f'{indent}filter: "{condition}"')
    mapping.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return mapping, at + 2


def _set_first(project: Path, rule_file: str, key: str, condition: str) -> tuple[Path, int]:
    """Replace the first ``key:`` condition of a rule file; return the file and its line."""
    path = project / "rules" / f"{rule_file}.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{key}:"))
    lines[at] = lines[at].split(f"{key}:")[0] + f'{key}: "{condition}"'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, at + 1


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
def test_run_with_a_condition_failing_on_text_stops_before_any_request(
    tmp_path: Path, crm: str
) -> None:
    project = tmp_path / "project"
    with sandbox_project(crm, project, accounts=40) as (handle, env):
        provisioned = kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path)
        assert provisioned.returncode == 0, provisioned.stderr
        mapping, line = _set_account_filter(project, crm, "CAST(name AS INTEGER) > 0")
        checklist, evidence_line = _set_first(
            project, "checklist", "evidence", "strptime(name, '%Y') IS NULL"
        )
        handle.reset_stats()

        validated = kam_sync_cli("validate", "--project", str(project), env=env, cwd=tmp_path)
        run = kam_sync_cli("run", "--project", str(project), env=env, cwd=tmp_path)

        for result in (validated, run):
            assert result.returncode == 2, result.stderr
            assert "2 configuration errors" in result.stderr, result.stderr
            assert f"{mapping}:{line}:5: filter: condition fails on sample values" in result.stderr
            assert f"{checklist}:{evidence_line}:" in result.stderr
            assert "STRPTIME fails on text that is not a date" in result.stderr
            assert "Traceback" not in result.stderr
        run_requests = handle.stats()["requests_total"]
        assert run_requests == 0, "the run must stop before it pulls anything"


@pytest.mark.slow
@pytest.mark.parametrize("crm", CRMS)
@pytest.mark.parametrize("where", ["record filter", "classification"])
def test_a_condition_failing_on_a_value_mid_run_exits_2_at_its_line_and_writes_nothing(
    tmp_path: Path,
    crm: str,
    where: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Samples that only hold numbers, as if the CRM held a value they did not foresee.
    monkeypatch.setattr(condition_samples, "TEXT_SAMPLES", (None, "12", "7"))
    project = tmp_path / "project"
    with sandbox_project(crm, project, accounts=40) as (handle, env):
        for name, value in env.items():
            if name.startswith("KAM_SYNC_"):
                monkeypatch.setenv(name, value)
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["provision", "--project", str(project)]) == 0
        if where == "record filter":
            path, line = _set_account_filter(project, crm, "CAST(name AS INTEGER) > 0")
        else:
            path, line = _set_first(project, "scoring", "when", "CAST(name AS INTEGER) > 0")
        handle.reset_stats()

        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["run", "--project", str(project)])

        err = capsys.readouterr().err
        assert code == 2, err
        assert f"{path}:{line}:" in err
        assert "condition failed on the CRM data of this run" in err
        assert "Traceback" not in err
        assert write_requests(handle.stats()) == 0, "nothing is written"
        with sqlite3.connect(project / "state" / "kam-sync.sqlite") as db:
            names = [r[0] for r in db.execute("SELECT name FROM account_snapshot")]
            status, error = db.execute(
                "SELECT status, error FROM run ORDER BY started_at DESC LIMIT 1"
            ).fetchone()
        assert names, "the accounts were pulled"
        assert not [n for n in names if n and n in err], "no CRM value in the output"
        assert status == "failed" and f"{path.name}:{line}:" in error
