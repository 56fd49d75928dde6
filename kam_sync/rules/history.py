"""What governance remembers between runs. The store persists it; the engine only reads it.

``GovernanceHistory`` is plain data: a tuple of ``KeyListRun`` (one per completed run, oldest
first) and a polars frame with one row per assessed account (``ACCOUNT_STATE_SCHEMA``). After a
run the store keeps ``PortfolioAssessment.history`` (the previous runs plus this run's entry, and
the new account state replacing the old one) and passes it to the next run. Runs older than the
longest growth-alert window may be pruned; keep at least the last
``additions_without_removals_runs`` entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import polars as pl

ACCOUNT_STATE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "account_id": pl.Utf8(),
    "tier": pl.Utf8(),  # the tier this run assigned (next run's previous_tier)
    "runs_below": pl.Int64(),  # consecutive runs an incumbent key account stayed below the line
}


@dataclass(frozen=True, slots=True)
class KeyListRun:
    """The key list after one run: its size and how it changed in that run."""

    as_of: datetime
    key_count: int
    added_count: int
    removed_count: int
    # The accounts that run added: a growth alert flags them while the list stays over its limit.
    added_ids: tuple[str, ...] = ()


def _empty_state() -> pl.DataFrame:
    return pl.DataFrame(schema=ACCOUNT_STATE_SCHEMA)


@dataclass(frozen=True, slots=True)
class GovernanceHistory:
    """Key-list runs (oldest first) and per-account state from the last completed run."""

    runs: tuple[KeyListRun, ...] = ()
    accounts: pl.DataFrame = field(default_factory=_empty_state)

    @classmethod
    def empty(cls) -> GovernanceHistory:
        """The history of a project that has never run."""
        return cls()


@dataclass(frozen=True, slots=True)
class Alert:
    """A run-level alert, e.g. the key list grew faster than governance allows."""

    kind: str  # key_list_growth | additions_without_removals | over_cap
    message: str
    account_ids: tuple[str, ...] = ()
