"""`kam-sync schedule` as a long-running process: jobs kept in the state store, a missed run
run once after a restart, SIGTERM stops cleanly."""

from __future__ import annotations

import pickle
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.crm import kam_sync_cli, kam_sync_popen, sandbox_project


def _wait_for_line(proc, text: str, timeout: float = 60) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            seen.append(line)
            if text in line:
                return line
        elif proc.poll() is not None:
            break
    raise AssertionError(f"{text!r} not printed; got {seen!r}; stderr: {proc.stderr.read()}")


def _runs(project: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(project / "state" / "kam-sync.sqlite") as db:
        return list(db.execute("SELECT id, status FROM run WHERE mode = 'run' ORDER BY id"))


@contextmanager
def _scheduler(project: Path, env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    """`kam-sync schedule` in the background, never left running after the test."""
    proc = kam_sync_popen("schedule", "--project", str(project), env=env, cwd=cwd)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def _pretend_missed(project: Path, missed_by: timedelta) -> None:
    """Move the stored job's next run time into the past, as if kam-sync had been down."""
    when = datetime.now(UTC) - missed_by
    with sqlite3.connect(project / "state" / "kam-sync.sqlite") as db:
        [(state_blob,)] = db.execute("SELECT job_state FROM apscheduler_jobs")
        state = pickle.loads(state_blob)
        state["next_run_time"] = when
        db.execute(
            "UPDATE apscheduler_jobs SET job_state = ?, next_run_time = ?",
            (pickle.dumps(state), when.timestamp()),
        )


@pytest.mark.slow
def test_a_missed_run_runs_once_after_a_restart_and_sigterm_stops_cleanly(tmp_path: Path) -> None:
    project = tmp_path / "project"
    with sandbox_project("salesforce", project, accounts=60) as (_handle, env):
        assert (
            kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path).returncode
            == 0
        )
        text = (
            (project / "kam-sync.yaml")
            .read_text()
            .replace('cron: "0 2 * * *"', 'cron: "0 3 * * *"')
        )
        (project / "kam-sync.yaml").write_text(text)

        with _scheduler(project, env, tmp_path) as first:
            _wait_for_line(first, "next run at")
            first.send_signal(signal.SIGTERM)
            assert first.wait(timeout=60) == 0
            assert "stopped" in first.stdout.read()
        assert _runs(project) == [], "nothing was due"

        # Down for three days: three nightly runs missed, within the grace time of the last one.
        _pretend_missed(project, timedelta(days=3, minutes=-1))
        text = (
            (project / "kam-sync.yaml")
            .read_text()
            .replace("misfire_grace_minutes: 120", "misfire_grace_minutes: 1440")
        )
        (project / "kam-sync.yaml").write_text(text)
        with _scheduler(project, env, tmp_path) as second:
            _wait_for_line(second, "next run at")
            deadline = time.monotonic() + 60
            while not _runs(project) or _runs(project)[-1][1] == "running":
                assert time.monotonic() < deadline, "the missed run did not run"
                time.sleep(0.2)
            time.sleep(1.5)  # would a second (uncoalesced) run start?
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=60) == 0
        runs = _runs(project)
        assert len(runs) == 1, f"missed runs are coalesced into one, got {runs}"
        assert runs[0][1] == "ok"
