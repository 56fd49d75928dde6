"""The ``report`` section of ``kam-sync.yaml``: the HTML report and the history it draws on."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ReportSection(BaseModel):
    """What `kam-sync report` shows, and whether every run writes it."""

    model_config = ConfigDict(extra="forbid")

    after_run: str | None = Field(
        default=None,
        min_length=1,
        description="write the HTML report to this file (relative to the project folder) after "
        "every run, however the run ended; none: only `kam-sync report` writes it",
    )
    runs: int = Field(
        default=30,
        ge=1,
        le=1000,
        description="runs shown in the run history and the key-list chart (`report --runs`)",
    )
    top_movers: int = Field(
        default=10,
        ge=1,
        le=100,
        description="accounts listed as top movers (largest score changes, either way)",
    )
    mover_window_days: int = Field(
        default=30,
        ge=1,
        le=366,
        description="the longer window of the top movers, in days (the other is since the last run)",
    )
    score_history_days: int = Field(
        default=90,
        ge=1,
        le=3660,
        description="days of score history the state store keeps (one row per account and run "
        "whose score changed); at least mover_window_days",
    )

    @model_validator(mode="after")
    def _history_covers_window(self) -> ReportSection:
        if self.score_history_days < self.mover_window_days:
            raise ValueError(
                f"score_history_days ({self.score_history_days}) must be at least "
                f"mover_window_days ({self.mover_window_days}): older scores would be pruned"
            )
        return self
