"""The score explanation: each factor's raw value, score, weight and contribution, and the gap
to the next tier, cut to the length a CRM text field holds."""

from __future__ import annotations

import polars as pl

from kam_sync.config.rule_pack import RulePack
from kam_sync.config.rule_spec.scoring import NUMERIC_SCALES
from kam_sync.rules.scoring import raw_column


def explanation_expr(pack: RulePack) -> pl.Expr:
    """Needs ``score``, ``tier``, ``tier_reason``, ``factor_*``, ``_weight_in`` and raw columns.

    Each factor shows the raw value of its first signal (its main input), its score in [0, 1],
    its share of the weights and its contribution in points: number-to-text conversion is the
    cost of this step, so each factor converts three numbers, no more.
    """
    total_weight = sum(f.weight for f in pack.scoring.factors.values()) or 1.0
    parts: list[pl.Expr] = []
    left_out: list[pl.Expr] = []
    for name, factor in pack.scoring.factors.items():
        if factor.weight == 0 or not pack.signals[name]:
            continue
        first = pack.signals[name][0]
        raw = _shown(
            pl.col(raw_column(name, 0)), first.spec.scale.type, whole=first.whole
        ).fill_null("n/a")
        fscore = pl.col(f"factor_{name}")
        contribution = fscore * factor.weight / pl.col("_weight_in") * 100
        share = round(factor.weight * 100 / total_weight)
        # pl.format gives null when the factor was left out: concat_str then skips it.
        parts.append(
            pl.format(
                f"{name} ({_escape(first.label)}={{}}) {{}} x {share}% = {{}}",
                raw,
                fscore.round(2),
                contribution.round(1),
            )
        )
        if factor.missing == "exclude":
            left_out.append(pl.when(fscore.is_null()).then(pl.lit(f"{name}: no data, left out")))
    left_out += _left_out_deals()
    # pl.format is several times cheaper than concat_str here; its inputs are never null.
    return pl.format(
        "Score {}, tier {} ({}). {}. {}",
        pl.col("score").round(1),
        pl.col("tier"),
        pl.col("tier_reason"),
        _gap_expr(pack),
        pl.concat_str([*parts, *left_out], separator="; ", ignore_nulls=True),
    )


def _left_out_deals() -> list[pl.Expr]:
    """What the metrics left out as impossible, so a reader knows the figures skip it."""
    notes = (
        ("won_after_as_of_count", "won deal(s) closing after the run date left out"),
        ("closed_before_created_count", "won deal(s) closed before created: no sales cycle"),
    )
    return [
        pl.when(pl.col(column).fill_null(0) > 0).then(pl.format(f"{{}} {text}", pl.col(column)))
        for column, text in notes
    ]


def explanations(frame: pl.DataFrame, pack: RulePack, *, slice_rows: int = 10_000) -> pl.Series:
    """``score_explanation`` for every row of ``frame`` (see ``explanation_expr``), cut to length.

    Built a slice of rows at a time: the text of every factor is made before they are joined,
    which over a whole portfolio would cost several times the explanations themselves.
    """
    parts = [
        frame.slice(start, slice_rows)
        .select(explanation_expr(pack).alias("score_explanation"))
        .select(truncated(pack, pl.col("score_explanation")).alias("score_explanation"))
        .to_series()
        for start in range(0, frame.height, slice_rows)
    ]
    if not parts:
        return pl.Series("score_explanation", [], dtype=pl.Utf8)
    return pl.concat(parts)


def _escape(label: str) -> str:
    """A label safe inside a ``pl.format`` template."""
    return label.replace("{", "(").replace("}", ")")


def truncated(pack: RulePack, text: pl.Expr) -> pl.Expr:
    """``text`` cut to the configured length, ending in an ellipsis when cut.

    Apply it to a materialised column: the text is read three times here.
    """
    limit = pack.scoring.explanation.max_length
    return (
        pl.when(text.str.len_chars() > limit)
        .then(pl.concat_str(text.str.slice(0, limit - 1), pl.lit("…")))
        .otherwise(text)
    )


def _shown(raw: pl.Expr, scale_type: str, *, whole: bool) -> pl.Expr:
    """Raw values as text: money and counts without decimals, other numbers with two."""
    if scale_type in NUMERIC_SCALES and whole:
        return raw.round(0).cast(pl.Int64).cast(pl.Utf8)
    if scale_type in NUMERIC_SCALES:
        return raw.round(2).cast(pl.Utf8)
    return raw.cast(pl.Utf8)


def _gap_expr(pack: RulePack) -> pl.Expr:
    """The nearest tier above the account's tier whose score threshold it has not reached yet,
    and the points missing; or why it is not higher although its score would do."""
    tiers = [(name, min_score) for name, min_score, _ in pack.tiers]
    tier, score = pl.col("tier"), pl.col("score")
    name_chain: pl.Expr = pl.lit(None, dtype=pl.Utf8)
    threshold_chain: pl.Expr = pl.lit(None, dtype=pl.Float64)
    has_above: pl.Expr = pl.lit(False)
    for k, (current, _) in enumerate(tiers):
        above = [(n, m) for n, m in reversed(tiers[:k]) if m is not None]
        if not above:
            continue
        has_above = has_above | (tier == current)
        # Nearest first, so build the chain from the farthest.
        for name, threshold in reversed(above):
            hit = (tier == current) & (score < threshold)
            name_chain = pl.when(hit).then(pl.lit(name)).otherwise(name_chain)
            threshold_chain = pl.when(hit).then(pl.lit(threshold)).otherwise(threshold_chain)
    return (
        pl.when(~has_above)
        .then(pl.lit("Next tier: none above"))
        .when(name_chain.is_null())
        .then(pl.lit("Score high enough for a higher tier: held by its conditions or governance"))
        .otherwise(
            pl.format(
                "Next tier {} needs {}: {} points to go",
                name_chain,
                threshold_chain.round(1),
                (threshold_chain - score).round(1),
            )
        )
    )
