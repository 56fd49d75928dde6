"""Backtest: would the rules have picked the accounts that went on to bring revenue?

The portfolio is rebuilt as of a past date from the stored opportunities (by their created and
close dates), scored with a rule pack, and compared with the revenue won in the horizon after
that date. The same figures are given for a naive baseline that ranks accounts by their won
revenue in the 12 months before the date, so a reader can tell whether the rules add anything
to "the biggest customers stay the biggest".

Method (what the README says under "Backtest"):

- accounts: those created on or before the date (or with no creation date); their fields are as
  they are now, because the state store keeps no history of account fields;
- opportunities: created on or before the date; closed on or before it: as they are; closed
  after it, or still open: open at the date, with one assumed probability for all (the mean of
  today's open deals unless given), since the probability they had then is not stored; their
  amount is today's;
- no governance history (no anti-flapping, no growth alert) and no tier overrides: the rules
  alone decide;
- outcome: each account's won revenue with a close date in (date, date + horizon].
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from kam_sync.config.rule_pack import RulePack
from kam_sync.engine.backtest_defaults import DEFAULT_HORIZON_MONTHS, DEFAULT_LARGEST_SHARE
from kam_sync.rules import GovernanceHistory, assess_portfolio, compute_metrics

DECILES = 10


@dataclass(frozen=True, slots=True)
class BacktestSettings:
    as_of: date
    horizon_months: int = DEFAULT_HORIZON_MONTHS
    largest_share: float = DEFAULT_LARGEST_SHARE
    open_probability: float | None = None  # percent; None: the mean of today's open deals
    data_until: datetime | None = None  # the newest data the store holds (default: now)


@dataclass(frozen=True, slots=True)
class RankingFigures:
    """How one ranking (the rules' score, or the baseline) did against the outcome."""

    key_accounts: int
    key_revenue_share: float | None
    top_decile_accounts: int
    top_decile_revenue_share: float | None
    top_decile_lift: float | None
    precision: float | None
    recall: float | None
    calibration: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "key_accounts": self.key_accounts,
            "key_revenue_share": self.key_revenue_share,
            "top_decile": {
                "accounts": self.top_decile_accounts,
                "revenue_share": self.top_decile_revenue_share,
                "lift": self.top_decile_lift,
            },
            "precision": self.precision,
            "recall": self.recall,
            "calibration": self.calibration,
        }


@dataclass(frozen=True, slots=True)
class BacktestResult:
    settings: BacktestSettings
    horizon_end: date
    horizon_complete: bool
    open_probability: float
    accounts: int
    opportunities_used: int
    revenue: Decimal
    largest_accounts: int
    tiers: list[dict[str, Any]]
    rules: RankingFigures
    baseline: RankingFigures
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.settings.as_of.isoformat(),
            "horizon_months": self.settings.horizon_months,
            "horizon_end": self.horizon_end.isoformat(),
            "horizon_complete": self.horizon_complete,
            "account_fields": "as_now",
            "open_probability": self.open_probability,
            "accounts": self.accounts,
            "opportunities_used": self.opportunities_used,
            "revenue": f"{self.revenue:.2f}",
            "largest_share": self.settings.largest_share,
            "largest_accounts": self.largest_accounts,
            "tiers": self.tiers,
            "rules": self.rules.to_json(),
            "baseline": self.baseline.to_json(),
            "notes": self.notes,
        }


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months (the 31st becomes the month's last day)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def portfolio_as_of(
    accounts: pl.DataFrame, opportunities: pl.DataFrame, day: date, open_probability: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Accounts and opportunities as they stood at the end of ``day`` (see the module's text)."""
    existed = pl.col("created_at").is_null() | (pl.col("created_at").dt.date() <= day)
    past_accounts = accounts.filter(existed).with_columns(
        pl.lit(None, dtype=accounts.schema["tier_override"]).alias("tier_override")
        if "tier_override" in accounts.columns
        else pl.lit(None, dtype=pl.Utf8).alias("tier_override")
    )
    created = (pl.col("created_at").dt.date() <= day) | (
        pl.col("created_at").is_null() & (pl.col("close_date") <= day)
    )
    closed_then = pl.col("is_closed").fill_null(False) & (pl.col("close_date") <= day)
    past = opportunities.filter(created.fill_null(False)).with_columns(
        closed_then.alias("is_closed"),
        (closed_then & pl.col("is_won").fill_null(False)).alias("is_won"),
        pl.when(closed_then)
        .then(pl.col("probability"))
        .otherwise(pl.lit(open_probability))
        .cast(opportunities.schema["probability"])
        .alias("probability"),
    )
    return past_accounts, past


def future_revenue(opportunities: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    """``account_id, revenue``: won with a close date in (start, end]."""
    won = (
        pl.col("is_won").fill_null(False)
        & pl.col("is_closed").fill_null(False)
        & (pl.col("close_date") > start)
        & (pl.col("close_date") <= end)
    )
    return (
        opportunities.filter(won & ~pl.col("is_deleted").fill_null(False))
        .group_by("account_id")
        .agg(pl.col("amount").sum().alias("revenue"))
    )


def run_backtest(
    accounts: pl.DataFrame,
    opportunities: pl.DataFrame,
    pack: RulePack,
    settings: BacktestSettings,
) -> BacktestResult:
    """Score the portfolio as of ``settings.as_of`` and compare with what came after."""
    day = settings.as_of
    end = add_months(day, settings.horizon_months)
    until = settings.data_until or datetime.now(UTC)
    probability = settings.open_probability
    if probability is None:
        open_now = opportunities.filter(~pl.col("is_closed").fill_null(False))["probability"]
        mean = open_now.drop_nulls().mean() if open_now.len() else None
        probability = float(mean) if isinstance(mean, int | float) else 0.0
    past_accounts, past_opportunities = portfolio_as_of(accounts, opportunities, day, probability)
    as_of = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, microseconds=-1)
    metrics = compute_metrics(
        past_accounts, past_opportunities, as_of, roll_up=pack.scoring.hierarchy.roll_up
    )
    result = assess_portfolio(
        past_accounts, None, GovernanceHistory.empty(), pack, as_of, metrics=metrics
    )
    outcome = future_revenue(opportunities, day, end)
    table = (
        result.assessments.select("account_id", "score", "tier")
        .join(
            metrics.select(pl.col("id").alias("account_id"), "won_amount_12m"),
            on="account_id",
            how="left",
        )
        .join(outcome, on="account_id", how="left")
        .with_columns(pl.col("revenue").fill_null(Decimal(0)).cast(pl.Float64).alias("_rev"))
    )
    total = float(table["_rev"].sum())
    n = table.height
    largest = _largest(table, settings.largest_share)
    key_tiers = list(pack.governance.key_tiers)
    key_ids = set(table.filter(pl.col("tier").is_in(key_tiers))["account_id"].to_list())
    rules = _figures(table, "score", key_ids, largest, total)
    baseline_rank = pl.col("won_amount_12m").cast(pl.Float64).fill_null(0.0)
    by_baseline = table.with_columns(baseline_rank.alias("_baseline"))
    baseline_keys = set(
        by_baseline.sort(["_baseline", "account_id"], descending=[True, False])
        .head(len(key_ids))["account_id"]
        .to_list()
    )
    baseline = _figures(by_baseline, "_baseline", baseline_keys, largest, total)
    notes = [
        "Account fields are as they are now: the state store keeps no history of account "
        "fields, so industry, size, relationship and other inputs may know more than they did "
        f"on {day.isoformat()}.",
        f"Opportunities open on {day.isoformat()} (including those closed since) are counted "
        f"as open with a probability of {probability:.1f} %, and with today's amounts.",
        "No governance history and no tier overrides: the rules alone place the accounts.",
    ]
    complete = end <= until.date()
    if not complete:
        notes.append(
            f"The horizon ends on {end.isoformat()}, after the newest data "
            f"({until.date().isoformat()}): revenue still to come is not counted."
        )
    return BacktestResult(
        settings=settings,
        horizon_end=end,
        horizon_complete=complete,
        open_probability=round(probability, 2),
        accounts=n,
        opportunities_used=past_opportunities.height,
        revenue=_exact_total(table),
        largest_accounts=len(largest),
        tiers=_tiers(table, pack, total),
        rules=rules,
        baseline=baseline,
        notes=notes,
    )


def _exact_total(table: pl.DataFrame) -> Decimal:
    """The horizon's revenue, summed as money (Decimal), to the cent."""
    total = table["revenue"].drop_nulls().sum()
    return Decimal(str(total)).quantize(Decimal("0.01")) if total is not None else Decimal("0.00")


def _largest(table: pl.DataFrame, share: float) -> set[str]:
    """The accounts that turned out largest: the top ``share`` of accounts by revenue in the
    horizon (those with some revenue only; ties by id)."""
    count = math.ceil(share * table.height)
    bought = table.filter(pl.col("_rev") > 0).sort(["_rev", "account_id"], descending=[True, False])
    return set(bought.head(count)["account_id"].to_list())


def _share(part: float, total: float) -> float | None:
    return round(part / total, 4) if total > 0 else None


def _tiers(table: pl.DataFrame, pack: RulePack, total: float) -> list[dict[str, Any]]:
    n = table.height
    rows = []
    for name in pack.tier_names:
        members = table.filter(pl.col("tier") == name)
        revenue = float(members["_rev"].sum())
        account_share = members.height / n if n else 0.0
        revenue_share = _share(revenue, total)
        rows.append(
            {
                "tier": name,
                "accounts": members.height,
                "account_share": round(account_share, 4),
                "revenue": round(revenue, 2),
                "revenue_share": revenue_share,
                "lift": round(revenue_share / account_share, 2)
                if revenue_share is not None and account_share > 0
                else None,
            }
        )
    return rows


def _figures(
    table: pl.DataFrame, rank: str, key_ids: set[str], largest: set[str], total: float
) -> RankingFigures:
    n = table.height
    ranked = table.sort([rank, "account_id"], descending=[True, False]).with_columns(
        # decile 1 holds the highest-ranked tenth
        (pl.int_range(0, pl.len()) * DECILES // pl.len() + 1).alias("_decile")
        if n
        else pl.lit(1).alias("_decile")
    )
    top = ranked.filter(pl.col("_decile") == 1)
    top_revenue = float(top["_rev"].sum())
    top_share = _share(top_revenue, total)
    key_revenue = float(table.filter(pl.col("account_id").is_in(sorted(key_ids)))["_rev"].sum())
    hits = len(key_ids & largest)
    calibration = []
    for decile in range(1, DECILES + 1):
        part = ranked.filter(pl.col("_decile") == decile)
        if part.height == 0:
            continue
        revenue = float(part["_rev"].sum())
        calibration.append(
            {
                "decile": decile,
                "accounts": part.height,
                "min_rank_value": round(float(part[rank].min()), 2),  # type: ignore[arg-type]
                "max_rank_value": round(float(part[rank].max()), 2),  # type: ignore[arg-type]
                "mean_rank_value": round(float(part[rank].mean()), 2),  # type: ignore[arg-type]
                "revenue": round(revenue, 2),
                "revenue_share": _share(revenue, total),
                "mean_revenue": round(revenue / part.height, 2),
                "buying_share": round(float((part["_rev"] > 0).mean()), 4),  # type: ignore[arg-type]
            }
        )
    return RankingFigures(
        key_accounts=len(key_ids),
        key_revenue_share=_share(key_revenue, total),
        top_decile_accounts=top.height,
        top_decile_revenue_share=top_share,
        top_decile_lift=round(top_share / (top.height / n), 2)
        if top_share is not None and top.height
        else None,
        precision=round(hits / len(key_ids), 4) if key_ids else None,
        recall=round(hits / len(largest), 4) if largest else None,
        calibration=calibration,
    )
