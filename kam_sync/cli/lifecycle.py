"""A run's end line, and the one mapping from an exception to an exit code.

Every run logs a start line (the engine, once the run has its id) and an end line with its
outcome and exit code (here), however it ends: a run refused before it began (a config error,
another run holding the lock) logs the end line alone, saying why. A log file of a cron job thus
always ends with the outcome and the exit code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from kam_sync.engine import run_context
from kam_sync.engine.summary import RunSummary
from kam_sync.errors import ConfigError, ExitCode, KamSyncError

log = logging.getLogger("kam_sync.run")

# Exit code after a second stop request (Ctrl-C twice): the shell's 128 + SIGINT.
ABORTED_EXIT_CODE = 130

_OUTCOME_BY_CODE = {
    ExitCode.OK: "ok",
    ExitCode.FAILURE: "failed",
    ExitCode.CONFIG_ERROR: "configuration error",
    ExitCode.RECORD_ERRORS_OR_ALERTS: "attention",
    ExitCode.QUOTA_STOP: "partial (quota)",
    ExitCode.LOCKED: "locked by another run",
    ExitCode.INTERRUPTED: "interrupted",
    ExitCode.USAGE: "usage error",
}


def exit_code_for(error: BaseException) -> int:
    """The exit code of a command that ended with ``error`` (README, "Exit codes")."""
    if isinstance(error, KeyboardInterrupt):
        return ABORTED_EXIT_CODE
    if isinstance(error, KamSyncError):
        return int(error.exit_code)
    return int(ExitCode.FAILURE)


def outcome_for(code: int) -> str:
    if code == ABORTED_EXIT_CODE:
        return "aborted"
    try:
        return _OUTCOME_BY_CODE[ExitCode(code)]
    except ValueError:
        return "failed"


@dataclass(slots=True)
class RunRecord:
    """What the end line reports; ``summary`` is set once the engine returned one."""

    mode: str
    summary: RunSummary | None = None
    run_id: int | None = None  # once the run has ended (the engine had begun it)


_current: ContextVar[RunRecord | None] = ContextVar("kam_sync_run_record", default=None)


@contextmanager
def run_lifecycle(mode: str) -> Iterator[RunRecord]:
    """Logs the end line of the run ``mode`` (run, plan) done inside; nested uses are one run."""
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    record = RunRecord(mode=mode)
    token = _current.set(record)
    started = time.monotonic()
    try:
        yield record
    except BaseException as exc:
        code = exit_code_for(exc)
        why = outcome_for(code)
        if isinstance(exc, ConfigError):
            why += f" ({len(exc.issues)} problem{'s' if len(exc.issues) != 1 else ''})"
        _log_end(record, why, code, time.monotonic() - started)
        raise
    else:
        if record.summary is not None:
            code, why = int(record.summary.exit_code()), record.summary.headline()
        else:
            code, why = int(ExitCode.OK), "ok"
        _log_end(record, why, code, time.monotonic() - started)
    finally:
        record.run_id = run_context.run_id()
        _current.reset(token)
        run_context.clear()


def _log_end(record: RunRecord, outcome: str, code: int, seconds: float) -> None:
    run_id = run_context.run_id()
    name = f"{record.mode} #{run_id}" if run_id is not None else f"{record.mode} (not started)"
    level = (
        logging.INFO
        if code in (ExitCode.OK, ExitCode.RECORD_ERRORS_OR_ALERTS)
        else logging.WARNING
        if code in (ExitCode.QUOTA_STOP, ExitCode.INTERRUPTED)
        else logging.ERROR
    )
    log.log(
        level,
        "%s ended: %s, exit code %d",
        name,
        outcome,
        code,
        extra={
            "fields": {
                "mode": record.mode,
                "outcome": outcome,
                "exit_code": code,
                "duration_seconds": round(seconds, 3),
            }
        },
    )
