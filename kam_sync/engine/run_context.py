"""The run and step a log line belongs to.

The engine sets them as a run begins and moves from step to step; the CLI's log formatters read
them, so every line (the connectors' too) carries the run id and step without being passed them.
Context variables keep two threads' runs apart (``schedule`` runs its jobs in a worker thread).
"""

from __future__ import annotations

from contextvars import ContextVar

current_run_id: ContextVar[int | None] = ContextVar("kam_sync_run_id", default=None)
current_step: ContextVar[str | None] = ContextVar("kam_sync_run_step", default=None)


def begin_run(run_id: int) -> None:
    """The lines from now on belong to run ``run_id``."""
    current_run_id.set(run_id)
    current_step.set("start")


def set_step(step: str) -> None:
    current_step.set(step)


def run_id() -> int | None:
    return current_run_id.get()


def step() -> str | None:
    return current_step.get()


def clear() -> None:
    """The lines from now on belong to no run (the run has ended and said so)."""
    current_run_id.set(None)
    current_step.set(None)
