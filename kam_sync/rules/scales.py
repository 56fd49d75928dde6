"""Scales: turn a raw value column into a score in [0, 1] (null stays null: a missing value)."""

from __future__ import annotations

import math

import polars as pl

from kam_sync.config.rule_spec.scoring import (
    BooleanScale,
    LinearBand,
    LogBand,
    Percentile,
    PicklistMap,
    Scale,
    StepTable,
)


def scaled(raw: pl.Expr, scale: Scale, direction: str) -> pl.Expr:
    """``raw`` on ``scale``, inverted when lower values are better (effort, cycle length)."""
    score = _on_scale(raw, scale)
    if direction == "lower_is_better":
        score = 1.0 - score
    return score


def _on_scale(x: pl.Expr, scale: Scale) -> pl.Expr:
    if isinstance(scale, LinearBand):
        return ((x - scale.low) / (scale.high - scale.low)).clip(0.0, 1.0)
    if isinstance(scale, LogBand):
        low, high = math.log(scale.low), math.log(scale.high)
        return ((x.clip(lower_bound=scale.low).log() - low) / (high - low)).clip(0.0, 1.0)
    if isinstance(scale, Percentile):
        # Share of the other scored values below this one (ties count half): 0 = lowest.
        others = x.count() - 1
        rank = x.rank("average") - 1
        return (
            pl.when(x.is_null())
            .then(None)
            .when(others > 0)
            .then(rank / others)
            .otherwise(1.0)
            .cast(pl.Float64)
        )
    if isinstance(scale, StepTable):
        stepped: pl.Expr = pl.lit(0.0)
        for step in scale.steps:
            stepped = pl.when(x >= step.at).then(pl.lit(step.score)).otherwise(stepped)
        return pl.when(x.is_null()).then(None).otherwise(stepped).cast(pl.Float64)
    if isinstance(scale, PicklistMap):
        mapped = x.replace_strict(
            list(scale.values), list(scale.values.values()), default=scale.other,
            return_dtype=pl.Float64,
        )  # fmt: skip
        return pl.when(x.is_null()).then(None).otherwise(mapped)
    if isinstance(scale, BooleanScale):
        return (
            pl.when(x.is_null())
            .then(None)
            .when(x)
            .then(scale.if_true)
            .otherwise(scale.if_false)
            .cast(pl.Float64)
        )
    raise TypeError(f"unknown scale {type(scale).__name__}")  # the models admit no other
