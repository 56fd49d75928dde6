"""Plan stage (the 5 steps as ordered gates), review due, and missing team roles."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from kam_sync.rules.pack import RulePack


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
    """Required roles not on the account's team, in the order of the rule file."""
    required = list(pack.stages.team.required_roles)
    have = pl.col("team_roles").fill_null(pl.lit([], dtype=pl.List(pl.Utf8)))
    missing = (
        pl.concat_list(
            [pl.when(~have.list.contains(pl.lit(r))).then(pl.lit(r)) for r in required]
        ).list.drop_nulls()
        if required
        else pl.lit([], dtype=pl.List(pl.Utf8))
    )
    return pl.when(in_programme).then(missing).otherwise(pl.lit([], dtype=pl.List(pl.Utf8)))
