"""Which rule condition failed on a run's data, and where it is written.

Conditions are tried on sample values when the rules load, so a failure during a run is rare: a
value the samples did not cover. polars then raises from deep inside one large expression,
with the failing values in its message. ``failing_conditions`` evaluates each condition of the
pack on its own, over the run's accounts and metrics, to name the ones that fail at their
file:line, so the run stops with a configuration error before anything is written.
"""

from __future__ import annotations

import polars as pl

from kam_sync.canonical import ACCOUNT_SCHEMA
from kam_sync.config.conditions import EVALUATION_ERRORS, condition_failure
from kam_sync.config.issues import ConfigIssue
from kam_sync.config.rule_pack import RulePack
from kam_sync.rules.alignment import attach
from kam_sync.rules.metrics import conform, in_scope


def failing_conditions(
    pack: RulePack, accounts: pl.DataFrame, metrics: pl.DataFrame | None, error: BaseException
) -> list[ConfigIssue]:
    """An issue for each condition of ``pack`` that fails on these accounts (and metrics).

    Columns a condition names that the frame lacks (scores, tiers, checklist completion:
    computed later in the run) are null here; their values are bounded by the rules and were
    covered by the samples when the rules loaded. An empty list means no condition is to blame.
    """
    schema = {**ACCOUNT_SCHEMA, **pack.extra_account_columns}
    try:
        frame = in_scope(conform(accounts, schema).select(list(schema)))
        if metrics is not None:
            extra = metrics.select("id", *[c for c in metrics.columns if c not in frame.columns])
            frame = attach(
                frame, extra.rename({"id": "_metrics_id"}), "id", table_key="_metrics_id"
            )
    except Exception:  # inputs the engine itself refuses: not a condition's fault
        return []
    issues: list[ConfigIssue] = []
    for located in pack.conditions:
        names = located.checked.expr.meta.root_names()
        probe = frame.select(
            [
                pl.col(n) if n in frame.columns else pl.lit(None, dtype=located.columns[n]).alias(n)
                for n in dict.fromkeys(names)
            ]
        )
        try:
            probe.select(located.checked.expr.alias("__condition__"))
        except EVALUATION_ERRORS:
            issues.append(
                condition_failure(
                    located.place, located.checked.can_fail, error, scope="assessing accounts"
                )
            )
    return issues
