"""One run of the rules engine over the whole portfolio: metrics, score, govern, assess.

Pure: tables and the governance history in, tables and the next history out; the run's
``as_of`` is passed in. No I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import polars as pl

from kam_sync.canonical import ACCOUNT_SCHEMA, FLAGS, UTC_DATETIME
from kam_sync.config.conditions import EVALUATION_ERRORS
from kam_sync.config.rule_pack import RulePack
from kam_sync.errors import ConfigError
from kam_sync.rules.alignment import attach
from kam_sync.rules.checklist import completion_columns, count_columns, gaps_expr, mask_columns
from kam_sync.rules.columns import METRICS_SCHEMA
from kam_sync.rules.explanation import cut_at_word, explanations
from kam_sync.rules.governance import govern
from kam_sync.rules.guard import failing_conditions
from kam_sync.rules.history import Alert, GovernanceHistory, KeyListRun
from kam_sync.rules.metrics import compute_metrics, conform, in_scope
from kam_sync.rules.scoring import raw_column, scaled_column, score_portfolio
from kam_sync.rules.stages import missing_roles_expr, plan_stage_expr, review_columns
from kam_sync.rules.tiers import classification_expr

# Carried from a group's head to its members when the hierarchy is rolled up.
_INHERITED = ("score", "classification", "tier", "tier_reason", "cap_rank", "score_explanation")
_GOVERNANCE_FLAGS = ("_over_cap", "_waitlisted", "_growth_alert")


@dataclass(frozen=True, slots=True)
class PortfolioAssessment:
    """The result of one run.

    ``assessments``: one row per in-scope account, sorted by ``account_id`` (see
    ``assessment_schema``). ``metrics``: the per-account metrics the scores used. ``alerts``:
    run-level alerts. ``key_list_entry``: this run's line of the key-list history.
    ``history``: what the store must keep and pass to the next run. ``signals``: one row per
    assessed account (same order), each signal's raw value and score (``signal_columns``), for
    `explain` and the impact preview; members of a rolled-up group have their group's.
    """

    assessments: pl.DataFrame
    metrics: pl.DataFrame
    alerts: tuple[Alert, ...]
    key_list_entry: KeyListRun
    history: GovernanceHistory
    signals: pl.DataFrame | None = None


def signal_columns(pack: RulePack) -> list[tuple[str, int, str, str]]:
    """``(factor, index, raw column, score column)`` of every signal, in the rule file's order,
    as named in ``PortfolioAssessment.signals``."""
    return [
        (name, i, f"raw_{name}_{i}", f"signal_{name}_{i}")
        for name, sigs in pack.signals.items()
        for i in range(len(sigs))
    ]


def assessment_schema(pack: RulePack) -> dict[str, pl.DataType]:
    """The columns of ``PortfolioAssessment.assessments`` for ``pack``."""
    return {
        "account_id": pl.Utf8(),
        "score": pl.Float64(),
        **{f"factor_{f}": pl.Float64() for f in pack.factor_names},
        "score_explanation": pl.Utf8(),
        "classification": pl.Utf8(),
        "tier": pl.Utf8(),
        "previous_tier": pl.Utf8(),
        "tier_reason": pl.Utf8(),
        "flags": pl.List(pl.Utf8),
        "cap_rank": pl.Int64(),
        "plan_stage": pl.Utf8(),
        "checklist_completion": pl.Float64(),
        **{f"checklist_{c}": pl.Float64() for c in pack.checklist.categories},
        "checklist_gaps": pl.Utf8(),
        "missing_roles": pl.List(pl.Utf8),
        "as_of": UTC_DATETIME,
    }


def assess_portfolio(
    accounts: pl.DataFrame,
    opportunities: pl.DataFrame | None,
    history: GovernanceHistory,
    pack: RulePack,
    as_of: datetime,
    *,
    metrics: pl.DataFrame | None = None,
) -> PortfolioAssessment:
    """Assess every in-scope (not deleted) account of ``accounts``.

    ``accounts`` / ``opportunities`` have the canonical columns (missing ones are taken as
    null); ``as_of`` must be timezone-aware. ``metrics``, when given, replaces the metrics
    step (e.g. computed by the store in SQL): one row per account, ``id`` plus the columns of
    ``METRICS_SCHEMA``, computed with the pack's ``hierarchy.roll_up``; ``opportunities`` is
    then not read and may be None.

    A rule condition that fails on these accounts raises ConfigError at its file:line.
    """
    try:
        return _assess_portfolio(accounts, opportunities, history, pack, as_of, metrics=metrics)
    except EVALUATION_ERRORS as exc:
        if not (issues := failing_conditions(pack, accounts, metrics, exc)):
            raise
        raise ConfigError(issues) from None


def _assess_portfolio(
    accounts: pl.DataFrame,
    opportunities: pl.DataFrame | None,
    history: GovernanceHistory,
    pack: RulePack,
    as_of: datetime,
    *,
    metrics: pl.DataFrame | None,
) -> PortfolioAssessment:
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (UTC)")
    schema = {**ACCOUNT_SCHEMA, **pack.extra_account_columns}
    # Only known columns go in: a stray column could shadow a metric or a result column.
    accounts = conform(accounts, schema).select(list(schema))
    roll_up = pack.scoring.hierarchy.roll_up
    scope = in_scope(accounts)
    if metrics is None:
        if opportunities is None:
            raise ValueError("assess_portfolio needs the opportunities or the metrics")
        metrics = compute_metrics(scope, opportunities, as_of, roll_up=roll_up)
    else:
        missing = [c for c in ("id", *METRICS_SCHEMA) if c not in metrics.columns]
        if missing:
            raise ValueError(f"metrics lack column(s): {', '.join(missing)}")
        metrics = metrics.select("id", *METRICS_SCHEMA).cast(METRICS_SCHEMA)  # type: ignore[arg-type]
    portfolio = attach(scope, metrics.rename({"id": "_metrics_id"}), "id", table_key="_metrics_id")
    governed = portfolio.filter(pl.col("id") == pl.col("group_id")) if roll_up else portfolio
    governed = score_portfolio(governed, pack)
    governed = governed.with_columns(classification_expr(pack).alias("classification"))
    governed, alerts, entry = govern(governed, history, pack, as_of)
    governed = governed.with_columns(explanations(governed, pack))
    signals = governed.select(
        pl.col("id").alias("account_id"),
        *[
            expr
            for name, i, raw, score in signal_columns(pack)
            for expr in (
                pl.col(raw_column(name, i)).alias(raw),
                pl.col(scaled_column(name, i)).alias(score),
            )
        ],
    )
    factor_cols = [f"factor_{f}" for f in pack.factor_names]
    portfolio = _inherit(portfolio, governed, history, factor_cols, pack) if roll_up else governed
    portfolio = _assess_programme(portfolio, pack, as_of)
    flag_conditions = {
        "over_cap": pl.col("_over_cap"),
        "growth_alert": pl.col("_growth_alert"),
        "review_due": pl.col("_in_programme")
        & pl.col("review_due")
        & pl.col("plan_stage").is_not_null(),
        "missing_roles": pl.col("missing_roles").list.len() > 0,
        "tier_override": pl.col("_tier_override"),
        "waitlisted": pl.col("_waitlisted"),
    }
    flags = _flags_expr(flag_conditions)
    assessments = (
        portfolio.with_columns(
            flags.alias("flags"),
            pl.lit(as_of).cast(UTC_DATETIME).alias("as_of"),
        )
        .rename({"id": "account_id"})
        .select(list(assessment_schema(pack)))
    )
    state = portfolio.select(
        pl.col("id").alias("account_id"), "tier", pl.col("runs_below").fill_null(0)
    )
    if roll_up:
        members = portfolio.select(pl.col("id").alias("_member"), "group_id")
        signals = (
            members.join(signals, left_on="group_id", right_on="account_id", how="left")
            .drop("group_id")
            .rename({"_member": "account_id"})
        )
    next_history = replace(history, runs=(*history.runs, entry), accounts=state)
    return PortfolioAssessment(
        assessments=assessments,
        metrics=metrics.sort("id"),
        alerts=tuple(alerts),
        key_list_entry=entry,
        history=next_history,
        signals=signals,
    )


def _assess_programme(portfolio: pl.DataFrame, pack: RulePack, as_of: datetime) -> pl.DataFrame:
    """Checklist, plan stage, review and team roles, for programme accounts only.

    Accounts outside the programme get nulls (and no missing roles): they have no plan.
    """
    in_programme = pl.col("tier").is_in(pack.stages.programme_tiers).fill_null(False)
    portfolio = portfolio.with_columns(in_programme.alias("_in_programme"))
    inside = (
        portfolio.filter(pl.col("_in_programme"))
        .with_columns(mask_columns(pack))
        .with_columns(count_columns(pack))
        .with_columns(completion_columns(pack))
        .with_columns(review_columns(pack, as_of))
        .with_columns(
            plan_stage_expr(pack, pl.lit(True)).alias("plan_stage"),
            missing_roles_expr(pack, pl.lit(True)).alias("missing_roles"),
            gaps_expr(pack).alias("checklist_gaps"),
        )
        .with_columns(
            cut_at_word(pl.col("checklist_gaps"), pack.checklist.gaps.max_length).alias(
                "checklist_gaps"
            )
        )
    )
    added = [c for c in inside.columns if c not in portfolio.columns]
    results = inside.select(pl.col("id").alias("_programme_id"), *added)
    return attach(portfolio, results, "id", table_key="_programme_id").with_columns(
        pl.col("missing_roles").fill_null(pl.lit([], dtype=pl.List(pl.Utf8)))
    )


def _flags_expr(conditions: dict[str, pl.Expr]) -> pl.Expr:
    """Flags in canonical order. The conditions become a bit mask that indexes a table of
    every possible flag list (2^6 rows): cheaper than building a list per account."""
    names = [f for f in FLAGS if f in conditions]
    mask = pl.sum_horizontal(
        [
            pl.when(conditions[f].fill_null(False)).then(1 << i).otherwise(0)
            for i, f in enumerate(names)
        ]
    )
    table = pl.Series(
        [[f for i, f in enumerate(names) if m & (1 << i)] for m in range(1 << len(names))],
        dtype=pl.List(pl.Utf8),
    )
    return pl.lit(table).gather(mask)


def _inherit(
    portfolio: pl.DataFrame,
    governed: pl.DataFrame,
    history: GovernanceHistory,
    factor_cols: list[str],
    pack: RulePack,
) -> pl.DataFrame:
    """Members of a rolled-up group take their group head's assessment (own override wins)."""
    head = governed.select(
        pl.col("id").alias("group_id"),
        *_INHERITED,
        *factor_cols,
        *_GOVERNANCE_FLAGS,
        pl.col("runs_below"),
    )
    own = governed.select("id", "previous_tier", "_tier_override")
    state = history.accounts.select(pl.col("account_id").alias("id"), pl.col("tier").alias("_st"))
    merged = (
        portfolio.join(head, on="group_id", how="left", maintain_order="left")
        .join(own, on="id", how="left", maintain_order="left")
        .join(state, on="id", how="left", maintain_order="left")
    )
    is_head = pl.col("id") == pl.col("group_id")
    override = pl.col("tier_override").is_in(pack.tier_names).fill_null(False)
    return merged.with_columns(
        pl.when(is_head).then(pl.col("_tier_override")).otherwise(override).alias("_tier_override"),
        pl.when(is_head)
        .then(pl.col("previous_tier"))
        .otherwise(pl.coalesce("_st", "kam_tier"))
        .alias("previous_tier"),
        pl.when(is_head | ~override)
        .then(pl.col("tier"))
        .otherwise(pl.col("tier_override"))
        .alias("tier"),
        pl.when(is_head)
        .then(pl.col("tier_reason"))
        .when(override)
        .then(pl.lit("tier override set in the CRM"))
        .otherwise(pl.format("inherited from group {}", "group_id"))
        .alias("tier_reason"),
        pl.when(is_head).then(pl.col("cap_rank")).alias("cap_rank"),
        pl.when(is_head).then(pl.col("runs_below")).otherwise(0).alias("runs_below"),
        *[pl.when(is_head).then(pl.col(f)).otherwise(False).alias(f) for f in _GOVERNANCE_FLAGS],
    )
