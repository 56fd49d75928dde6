"""Plan stage (the 5 steps as ordered gates), review due, and missing team roles."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from kam_sync.config.rule_pack import RulePack


def review_columns(pack: RulePack, as_of: datetime) -> list[pl.Expr]:
    """``days_since_review`` (since the last review, else since the plan started) and
    ``review_due`` (older than the cadence)."""
    since = pl.coalesce("last_review_date", "account_plan_started")
    days = (pl.lit(as_of.date()) - since).dt.total_days().cast(pl.Int64)
    due = (days > pack.stages.review.cadence_days).fill_null(False)
    return [days.alias("days_since_review"), due.alias("review_due")]


def plan_stage_expr(pack: RulePack, in_programme: pl.Expr) -> pl.Expr:
    """The last gate reached in order; null outside the programme or before the first gate."""
    reached: pl.Expr = in_programme
    chain: pl.Expr = pl.lit(None, dtype=pl.Utf8)
    steps: list[tuple[str, pl.Expr]] = []
    for stage, cond in pack.gates:
        reached = reached & cond if cond is not None else reached
        steps.append((stage, reached))
    for stage, ok in steps:
        chain = pl.when(ok).then(pl.lit(stage)).otherwise(chain)
    return chain


def missing_roles_expr(pack: RulePack, in_programme: pl.Expr) -> pl.Expr:
    """Required roles not on the account's team, in the order of the rule file.

    The team becomes a bit mask over the required roles; the mask indexes a table of every
    possible "missing" list (at most 2^6 rows), so no per-row list search is needed.
    """
    required = list(dict.fromkeys(pack.stages.team.required_roles))
    empty = pl.lit([], dtype=pl.List(pl.Utf8))
    if not required:
        return empty
    bits = [1 << i for i in range(len(required))]
    mask = (
        pl.col("team_roles")
        .list.eval(
            pl.element()
            .replace_strict(required, bits, default=0, return_dtype=pl.UInt32)
            .bitwise_or()
        )
        .list.first()
        .fill_null(0)
    )
    table = pl.Series(
        [
            [r for i, r in enumerate(required) if not m & (1 << i)]
            for m in range(1 << len(required))
        ],
        dtype=pl.List(pl.Utf8),
    )
    return pl.when(in_programme).then(pl.lit(table).gather(mask)).otherwise(empty)
