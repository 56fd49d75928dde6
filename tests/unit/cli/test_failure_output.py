"""An unexpected error prints one line naming the step and the error type, and no CRM record
value reaches the terminal, the log or the run ledger."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from kam_sync.cli.main import main
from kam_sync.store.store import StateStore
from tests.e2e.crm import sandbox_project

# What the SQLAlchemy error of the issue carried: the statement and rows of deal names/amounts.
RECORD_VALUES = ("Acme Corp renewal 2027", "987654321.55")


def _failing_upsert(*_args: Any, **_kwargs: Any) -> int:
    raise IntegrityError(
        "INSERT INTO opportunity_snapshot (id, account_id, name, amount) VALUES (?, ?, ?, ?)",
        [("006A", None, RECORD_VALUES[0], RECORD_VALUES[1])],
        Exception(f"NOT NULL constraint failed; row ({RECORD_VALUES[0]}, {RECORD_VALUES[1]})"),
    )


@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, True])
def test_a_failed_run_names_the_step_and_error_type_and_no_record_values(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    verbose: bool,
) -> None:
    project = tmp_path / "project"
    log_file = tmp_path / "kam-sync.log"
    with sandbox_project("hubspot", project, accounts=5) as (_handle, env):
        for name, value in env.items():
            if name.startswith("KAM_SYNC_"):
                monkeypatch.setenv(name, value)
        # The run's preflight wants the KAM fields to exist, as on a real org.
        assert main(["provision", "--project", str(project)]) == 0
        capsys.readouterr()
        monkeypatch.setattr(StateStore, "upsert_snapshot", _failing_upsert)
        args = ["run", "--project", str(project), "--log-file", str(log_file)]
        code = main([*args, "-v"] if verbose else args)

    assert code == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("kam-sync:")]
    assert lines == [
        "kam-sync: error: run failed in pull: IntegrityError (builtins.Exception) "
        "(details in the log file; -v shows the traceback)"
    ]
    logged = log_file.read_text(encoding="utf-8")
    assert "Traceback" in logged and "pipeline.py" in logged, "the log file has the traceback"
    assert ("Traceback" in err) is verbose, "the terminal shows it only with -v"
    with sqlite3.connect(project / "state" / "kam-sync.sqlite") as db:
        ((status, error),) = db.execute("SELECT status, error FROM run").fetchall()
    assert status == "failed"
    assert error == "run failed in pull: IntegrityError (builtins.Exception)"
    for value in RECORD_VALUES:
        assert value not in err
        assert value not in logged
    assert "INSERT INTO" not in err + logged + error
