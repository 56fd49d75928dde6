"""The columns the rules engine adds, by stage: defined with the rule-file loading in
``kam_sync.config.rule_columns`` (conditions are checked against them when the rules load)."""

from __future__ import annotations

from kam_sync.config.rule_columns import (
    CHECKLIST_COLUMNS,
    METRICS_SCHEMA,
    REVIEW_COLUMNS,
    base_schema,
    classified_schema,
    computed_samples,
    scored_schema,
    stage_schema,
)

__all__ = [
    "CHECKLIST_COLUMNS",
    "METRICS_SCHEMA",
    "REVIEW_COLUMNS",
    "base_schema",
    "classified_schema",
    "computed_samples",
    "scored_schema",
    "stage_schema",
]
