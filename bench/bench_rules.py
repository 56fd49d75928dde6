"""Rules engine benchmark: metrics + score + govern + assess over a synthetic portfolio.

Run by hand, one core:

    POLARS_MAX_THREADS=1 .venv/bin/python bench/bench_rules.py [--accounts 100000] [--opportunities 500000]

Targets (issue 4): >= 200,000 accounts/s for score + govern + assess; < 5 s including metrics.
The portfolio is generated here from hashes of row numbers (deterministic, no numpy needed).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import polars as pl

from kam_sync.canonical import (
    ACCOUNT_SCHEMA,
    CHECKLIST_CATEGORIES,
    MONEY,
    OPPORTUNITY_SCHEMA,
    TEAM_ROLES,
    UTC_DATETIME,
)
from kam_sync.config.rule_pack import RulePack
from kam_sync.rules import GovernanceHistory, load_rule_pack
from kam_sync.rules.assess import assess_portfolio
from kam_sync.rules.metrics import compute_metrics

RULES = Path(__file__).resolve().parent.parent / "rules"
AS_OF = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def _rand(n: int, seed: int) -> pl.Expr:
    """Uniform floats in [0, 1) from a hash of the row number."""
    return (pl.int_range(0, n, dtype=pl.UInt64).hash(seed) % 1_000_000).cast(pl.Float64) / 1e6


def _pick(values: tuple[str, ...], n: int, seed: int, null_share: float = 0.0) -> pl.Expr:
    idx = (_rand(n, seed) * len(values)).cast(pl.Int64)
    chosen = pl.lit(pl.Series(list(values))).gather(idx)
    return pl.when(_rand(n, seed + 1) < null_share).then(None).otherwise(chosen)


def synthetic_accounts(n: int) -> pl.DataFrame:
    ids = pl.format("A{}", pl.int_range(0, n))
    questions = [f"{c}_0{i}" for c in CHECKLIST_CATEGORIES for i in (1, 2, 3)]
    frame = pl.select(
        ids.alias("id"),
        ids.alias("name"),
        pl.when(_rand(n, 1) < 0.2)
        .then(pl.format("A{}", (_rand(n, 2) * n).cast(pl.Int64)))
        .alias("parent_id"),
        _pick(("Banking", "Insurance", "Retail", "Energy", "Health"), n, 3, 0.1).alias("industry"),
        _pick(("DE", "FR", "US", "GB", "JP"), n, 5, 0.05).alias("country"),
        (_rand(n, 7) * 100_000).cast(pl.Int64).alias("employees"),
        (_rand(n, 8) * 1e9).round(2).cast(MONEY).alias("annual_revenue"),
        pl.lit(False).alias("is_deleted"),
        _pick(("weak", "moderate", "strong", "strategic_partner"), n, 9, 0.3).alias(
            "relationship_strength"
        ),
        _pick(("low", "medium", "high", "flagship"), n, 11, 0.3).alias("logo_attractiveness"),
        _pick(("low", "medium", "high"), n, 13, 0.3).alias("strategic_fit"),
        (_rand(n, 15) < 0.2).alias("public_company"),
        pl.when(_rand(n, 16) < 0.3).then(pl.lit("Sponsor")).alias("executive_sponsor"),
        pl.concat_list(
            [pl.when(_rand(n, 17 + i) < 0.3).then(pl.lit(c)) for i, c in enumerate("XYZ")]
        )
        .list.drop_nulls()
        .alias("competitors"),
        (_rand(n, 21) * 20).cast(pl.Int64).alias("contacts_engaged"),
        pl.concat_list(
            [pl.when(_rand(n, 30 + i) < 0.4).then(pl.lit(q)) for i, q in enumerate(questions)]
        )
        .list.drop_nulls()
        .alias("checklist_answers"),
        pl.concat_list([pl.when(_rand(n, 60) < 0.1).then(pl.lit("trends_06"))])
        .list.drop_nulls()
        .alias("checklist_not_applicable"),
        pl.when(_rand(n, 61) < 0.5)
        .then(pl.lit(AS_OF.date()) - pl.duration(days=(_rand(n, 62) * 400).cast(pl.Int64)))
        .alias("account_plan_started"),
        pl.when(_rand(n, 63) < 0.4)
        .then(pl.lit(AS_OF.date()) - pl.duration(days=(_rand(n, 64) * 200).cast(pl.Int64)))
        .alias("last_review_date"),
        pl.concat_list(
            [pl.when(_rand(n, 70 + i) < 0.5).then(pl.lit(r)) for i, r in enumerate(TEAM_ROLES)]
        )
        .list.drop_nulls()
        .alias("team_roles"),
        pl.lit(AS_OF).cast(UTC_DATETIME).alias("modified_at"),
    )
    return frame.with_columns(
        [
            pl.lit(None, dtype=t).alias(c)
            for c, t in ACCOUNT_SCHEMA.items()
            if c not in frame.columns
        ]
    ).select(list(ACCOUNT_SCHEMA))


def synthetic_opportunities(n: int, accounts: int) -> pl.DataFrame:
    closed = _rand(n, 101) < 0.7
    frame = pl.select(
        pl.format("O{}", pl.int_range(0, n)).alias("id"),
        # Skewed: a few accounts hold many opportunities, as in real portfolios.
        pl.format("A{}", ((_rand(n, 102) ** 2) * accounts).cast(pl.Int64)).alias("account_id"),
        (_rand(n, 103) * 200_000).round(2).cast(MONEY).alias("amount"),
        closed.alias("is_closed"),
        (closed & (_rand(n, 104) < 0.4)).alias("is_won"),
        (_rand(n, 105) * 100).alias("probability"),
        _pick(("new_business", "renewal", "expansion"), n, 106).alias("opportunity_type"),
        (pl.lit(AS_OF.date()) - pl.duration(days=(_rand(n, 107) * 900 - 120).cast(pl.Int64))).alias(
            "close_date"
        ),
        (pl.lit(AS_OF) - pl.duration(days=(_rand(n, 108) * 1000 + 150).cast(pl.Int64)))
        .cast(UTC_DATETIME)
        .alias("created_at"),
        pl.lit(False).alias("is_deleted"),
    )
    return frame.with_columns(
        [
            pl.lit(None, dtype=t).alias(c)
            for c, t in OPPORTUNITY_SCHEMA.items()
            if c not in frame.columns
        ]
    ).select(list(OPPORTUNITY_SCHEMA))


def default_pack_and_portfolio(
    description: str,
) -> tuple[argparse.Namespace, RulePack, pl.DataFrame, pl.DataFrame]:
    """The benches' common start: their arguments, the shipped rule pack and the synthetic
    portfolio of the requested size (printed with the polars version and threads)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--opportunities", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    files = {k: RULES / f"{k}.yaml" for k in ("scoring", "governance", "checklist", "stages")}
    pack, issues = load_rule_pack(files)
    if pack is None:
        raise SystemExit("\n".join(str(i) for i in issues))
    accounts = synthetic_accounts(args.accounts)
    opportunities = synthetic_opportunities(args.opportunities, args.accounts)
    print(f"polars {pl.__version__}, threads {pl.thread_pool_size()}")
    print(f"{accounts.height:,} accounts, {opportunities.height:,} opportunities")
    return args, pack, accounts, opportunities


def main() -> None:
    args, pack, accounts, opportunities = default_pack_and_portfolio(__doc__.splitlines()[0])
    history = GovernanceHistory.empty()
    best_metrics = best_rest = best_total = float("inf")
    result = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        metrics = compute_metrics(accounts, opportunities, AS_OF)
        t1 = time.perf_counter()
        assess_portfolio(accounts, opportunities, history, pack, AS_OF, metrics=metrics)
        t2 = time.perf_counter()
        result = assess_portfolio(accounts, opportunities, history, pack, AS_OF)
        t3 = time.perf_counter()
        best_metrics = min(best_metrics, t1 - t0)
        best_rest = min(best_rest, t2 - t1)
        best_total = min(best_total, t3 - t2)
    assert result is not None
    rate = accounts.height / best_rest
    print(f"best of {args.repeat} runs each:")
    print(f"metrics:                      {best_metrics:8.3f} s")
    print(f"score + govern + assess:      {best_rest:8.3f} s  ({rate:,.0f} accounts/s)")
    print(f"total incl. metrics:          {best_total:8.3f} s")
    tiers = result.assessments.group_by("tier").len().sort("tier")
    print("tiers:", dict(tiers.iter_rows()))


if __name__ == "__main__":
    main()
