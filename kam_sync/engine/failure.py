"""What an unexpected error may say: the step and the error type, never record values.

An error kam-sync did not foresee can carry anything in its text: a database error holds the SQL
statement and its parameters (deal names, amounts), a polars error a sample of the column. So the
terminal, the run ledger and the alert hooks get the step and the type; the log gets the
traceback with file:line of every frame, and messages only of kam-sync's own errors, whose texts
are built from names and ids.
"""

from __future__ import annotations

import logging
import traceback

from kam_sync.errors import KamSyncError

# Tracebacks are logged here: the log file always holds them, the terminal only with -v.
DETAILS_LOGGER = "kam_sync.details"
details_log = logging.getLogger(DETAILS_LOGGER)


class RunFailedError(KamSyncError):
    """An unexpected error ended a run in ``step``."""

    def __init__(self, step: str, error: BaseException) -> None:
        self.step = step
        self.error_type = error_type(error)
        self.summary = f"run failed in {step}: {self.error_type}"
        super().__init__(f"{self.summary} (details in the log file; -v shows the traceback)")


def error_type(error: BaseException) -> str:
    """The error's class name, and the database driver's when SQLAlchemy wraps one."""
    name = type(error).__name__
    original = getattr(error, "orig", None)  # sqlalchemy.exc.DBAPIError
    if isinstance(original, BaseException) and type(original).__name__ != name:
        return f"{name} ({type(original).__module__}.{type(original).__name__})"
    return name


def safe_traceback(error: BaseException) -> str:
    """The traceback of ``error`` and its causes: frames and types; messages of our errors only."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts: list[str] = []
    for link in reversed(chain):
        frames = "".join(traceback.format_list(traceback.extract_tb(link.__traceback__)))
        kind = f"{type(link).__module__}.{type(link).__qualname__}"
        said = f": {link}" if isinstance(link, KamSyncError) else " (message withheld)"
        parts.append(f"Traceback (most recent call last):\n{frames}{kind}{said}")
    return "\n\nwhich led to\n\n".join(parts)


def log_failure(error: BaseException, where: str) -> None:
    """Log the safe traceback of an unexpected error at ``where`` (a step or a command)."""
    details_log.error("%s failed: %s\n%s", where, error_type(error), safe_traceback(error))
