"""The columns a rule condition may name, stage by stage.

Conditions are checked against these schemas when the rules load, so an unknown name is a config
error with file and line, not a failure in the middle of a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import polars as pl

from kam_sync.canonical import ACCOUNT_SCHEMA, CHECKLIST_CATEGORIES, MONEY

# One row per account (or per group when the hierarchy is rolled up); see metrics.py.
METRICS_SCHEMA: Final[dict[str, pl.DataType]] = {
    "won_amount_12m": MONEY,
    "won_amount_prev_12m": MONEY,
    "revenue_growth": pl.Float64(),  # (last 12 months / the 12 before) - 1
    "open_pipeline": MONEY,
    "weighted_pipeline": MONEY,
    "win_rate_24m": pl.Float64(),  # 0..1, closed won / closed, last 24 months
    "renewal_probability": pl.Float64(),  # 0..100, mean over open renewal opportunities
    "avg_sales_cycle_days": pl.Float64(),  # won in the last 24 months, created -> close
    "open_opportunity_count": pl.Int64(),
    "buying_centres": pl.Int64(),  # distinct accounts of the group/children with won business
    "days_since_last_win": pl.Int64(),
    # won deals left out of the metrics: closing after the run's date, closed before created
    "won_after_as_of_count": pl.Int64(),
    "closed_before_created_count": pl.Int64(),
    "group_id": pl.Utf8(),  # the hierarchy root (own id when not rolled up or no parent)
    "group_size": pl.Int64(),
}

CHECKLIST_COLUMNS: Final[dict[str, pl.DataType]] = {
    "checklist_completion": pl.Float64(),
    **{f"checklist_{c}": pl.Float64() for c in CHECKLIST_CATEGORIES},
}

REVIEW_COLUMNS: Final[dict[str, pl.DataType]] = {
    "days_since_review": pl.Int64(),
    "review_due": pl.Boolean(),
}


def base_schema(extra_account_columns: Mapping[str, pl.DataType]) -> dict[str, pl.DataType]:
    """Account columns (canonical + extra) and metrics: what evidence conditions may name."""
    return {**ACCOUNT_SCHEMA, **extra_account_columns, **METRICS_SCHEMA}


def scored_schema(base: Mapping[str, pl.DataType], factors: list[str]) -> dict[str, pl.DataType]:
    """Base plus the total score and each factor's score: what classification may name."""
    return {**base, "score": pl.Float64(), **{f"factor_{f}": pl.Float64() for f in factors}}


def classified_schema(scored: Mapping[str, pl.DataType]) -> dict[str, pl.DataType]:
    """What tier conditions may name."""
    return {**scored, "classification": pl.Utf8()}


def stage_schema(classified: Mapping[str, pl.DataType]) -> dict[str, pl.DataType]:
    """What plan-stage gates may name."""
    return {**classified, "tier": pl.Utf8(), **CHECKLIST_COLUMNS, **REVIEW_COLUMNS}


def computed_samples(
    factors: list[str], classifications: list[str], tiers: list[str]
) -> dict[str, list[object]]:
    """The values each computed column can hold, for trying conditions when the rules load.

    A condition is tried on these instead of every value of the column's type: a score never
    exceeds 100, and a tier is one of the rule file's tiers.
    """
    share: list[object] = [None, 0.0, 0.5, 1.0]
    percent: list[object] = [None, 0.0, 37.5, 100.0]
    return {
        "score": [0.0, 0.01, 50.0, 99.99, 100.0],
        **{f"factor_{f}": share for f in factors},
        "classification": list(classifications),
        "tier": list(tiers),
        **{name: percent for name in CHECKLIST_COLUMNS},
    }
