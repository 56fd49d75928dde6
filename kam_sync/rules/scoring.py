"""Candidacy score: each factor in [0, 1] from its signals, the weighted total in [0, 100]."""

from __future__ import annotations

import polars as pl

from kam_sync.config.rule_pack import RulePack
from kam_sync.rules.scales import scaled


def raw_column(factor: str, index: int) -> str:
    """Name of the temporary column holding a signal's raw value (for the explanation)."""
    return f"_raw_{factor}_{index}"


def scaled_column(factor: str, index: int) -> str:
    """Name of the temporary column holding a signal's score in [0, 1] (null: no value)."""
    return f"_sig_{factor}_{index}"


def score_portfolio(frame: pl.DataFrame, pack: RulePack) -> pl.DataFrame:
    """Add ``factor_<name>`` (null when left out), ``score``, and each signal's raw value and
    scaled score (``raw_column``, ``scaled_column``: for the explanation)."""
    raws = [
        sig.expr.alias(raw_column(name, i))
        for name, sigs in pack.signals.items()
        for i, sig in enumerate(sigs)
    ]
    frame = frame.with_columns(raws)
    frame = frame.with_columns(
        scaled(pl.col(raw_column(name, i)), sig.spec.scale, sig.spec.direction).alias(
            scaled_column(name, i)
        )
        for name, sigs in pack.signals.items()
        for i, sig in enumerate(sigs)
    )
    factors: list[pl.Expr] = []
    for name, factor in pack.scoring.factors.items():
        parts: list[tuple[float, pl.Expr]] = []
        for i, sig in enumerate(pack.signals[name]):
            parts.append((sig.spec.weight, pl.col(scaled_column(name, i))))
        total = pl.sum_horizontal([(v * w) for w, v in parts])
        present = pl.sum_horizontal([v.is_not_null().cast(pl.Float64) * w for w, v in parts])
        fallback = {"neutral": factor.neutral_score, "zero": 0.0, "exclude": None}[factor.missing]
        combined = pl.when(present > 0).then(total / present).otherwise(pl.lit(fallback))
        factors.append(combined.cast(pl.Float64).alias(f"factor_{name}"))
    frame = frame.with_columns(factors)
    weights = {n: f.weight for n, f in pack.scoring.factors.items()}
    numerator = pl.sum_horizontal(
        [pl.col(f"factor_{n}").fill_null(0) * w for n, w in weights.items()]
    )
    denominator = pl.sum_horizontal(
        [pl.col(f"factor_{n}").is_not_null().cast(pl.Float64) * w for n, w in weights.items()]
    )
    score = pl.when(denominator > 0).then(numerator / denominator * 100).otherwise(0.0)
    return frame.with_columns(
        score.clip(0.0, 100.0).round(2).alias("score"), denominator.alias("_weight_in")
    )
