"""The score explanation: each factor's raw value, score, weight and contribution, and the gap
to the next tier, cut to the length a CRM text field holds."""

from __future__ import annotations

import polars as pl

from kam_sync.rules.pack import RulePack
from kam_sync.rules.scoring import raw_column
from kam_sync.rules.spec.scoring import NUMERIC_SCALES
from kam_sync.rules.tiers import next_tier_gaps


def explanation_expr(pack: RulePack) -> pl.Expr:
    """Needs ``score``, ``tier``, ``tier_reason``, ``factor_*``, ``_weight_in`` and raw columns."""
    total_weight = sum(f.weight for f in pack.scoring.factors.values()) or 1.0
    parts: list[pl.Expr] = []
    for name, factor in pack.scoring.factors.items():
        if factor.weight == 0:
            continue
        raws = [
            pl.concat_str(
                pl.lit(f"{sig.label}="),
                _shown(pl.col(raw_column(name, i)), sig.spec.scale.type).fill_null("n/a"),
            )
            for i, sig in enumerate(pack.signals[name])
        ]
        fscore = pl.col(f"factor_{name}")
        contribution = fscore * factor.weight / pl.col("_weight_in") * 100
        share = round(factor.weight * 100 / total_weight)
        parts.append(
            pl.when(fscore.is_null())
            .then(pl.lit(f"{name}: no data, left out"))
            .otherwise(
                pl.concat_str(
                    pl.lit(f"{name} ("),
                    pl.concat_str(raws, separator=", "),
                    pl.lit(") "),
                    fscore.round(2).cast(pl.Utf8),
                    pl.lit(f" x {share}% = "),
                    contribution.round(1).cast(pl.Utf8),
                )
            )
        )
    text = pl.concat_str(
        pl.lit("Score "),
        pl.col("score").round(1).cast(pl.Utf8),
        pl.lit(", tier "),
        pl.col("tier"),
        pl.lit(" ("),
        pl.col("tier_reason"),
        pl.lit("). "),
        _gap_expr(pack),
        pl.lit(". "),
        pl.concat_str(parts, separator="; "),
    )
    limit = pack.scoring.explanation.max_length
    return (
        pl.when(text.str.len_chars() > limit)
        .then(pl.concat_str(text.str.slice(0, limit - 1), pl.lit("…")))
        .otherwise(text)
    )


def _shown(raw: pl.Expr, scale_type: str) -> pl.Expr:
    """Raw values as text; numbers with at most two decimals."""
    if scale_type in NUMERIC_SCALES:
        return raw.round(2).cast(pl.Utf8)
    return raw.cast(pl.Utf8)


def _gap_expr(pack: RulePack) -> pl.Expr:
    chain: pl.Expr = pl.lit("Next tier: none above")
    score = pl.col("score")
    for tier, above in next_tier_gaps(pack).items():
        if above is None:
            continue
        name, threshold = above
        is_tier = pl.col("tier") == tier
        chain = (
            pl.when(is_tier & (score < threshold))
            .then(
                pl.concat_str(
                    pl.lit(f"Next tier {name} needs {threshold:g}: "),
                    (pl.lit(threshold) - score).round(1).cast(pl.Utf8),
                    pl.lit(" points to go"),
                )
            )
            .when(is_tier)
            .then(pl.lit(f"Next tier {name}: score reached, held by conditions or governance"))
            .otherwise(chain)
        )
    return chain
