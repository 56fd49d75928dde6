"""The score explanation for people: each factor by its label with its contribution, every
signal that contributed with its raw value and score, and the gap to the next tier, cut at a
word boundary to the length a CRM text field holds."""

from __future__ import annotations

import polars as pl

from kam_sync.config.rule_pack import RulePack
from kam_sync.config.rule_spec.scoring import NUMERIC_SCALES
from kam_sync.rules.scoring import raw_column, scaled_column


def explanation_expr(pack: RulePack) -> pl.Expr:
    """Needs ``score``, ``tier``, ``tier_reason``, ``factor_*``, ``_weight_in`` and the signals'
    raw and scaled columns.

    For people: each factor by its label with its contribution in points, then every signal
    that contributed (a value and a weight above zero) by its label, with its raw value and its
    score in [0, 1]. Factors are listed in the rule file's order.
    """
    parts: list[pl.Expr] = []
    left_out: list[pl.Expr] = []
    for name, factor in pack.scoring.factors.items():
        if factor.weight == 0 or not pack.signals[name]:
            continue
        signals: list[pl.Expr] = []
        for i, sig in enumerate(pack.signals[name]):
            if sig.spec.weight == 0:
                continue
            raw = _shown(pl.col(raw_column(name, i)), sig.spec.scale.type, whole=sig.whole)
            # pl.format gives null when the signal has no value: concat_str then skips it.
            signals.append(
                pl.format(
                    f"{_escape(sig.title)} {{}}: {{}}",
                    raw,
                    _fixed(pl.col(scaled_column(name, i)), 2, 1),
                )
            )
        listed = pl.concat_str(signals, separator=", ", ignore_nulls=True)
        fallback = {"neutral": f"no data, neutral {factor.neutral_score:g}", "zero": "no data"}
        evidence = (
            pl.when(listed == "")
            .then(pl.lit(fallback.get(factor.missing, "no data")))
            .otherwise(listed)
        )
        fscore = pl.col(f"factor_{name}")
        contribution = fscore * factor.weight / pl.col("_weight_in") * 100
        parts.append(
            pl.format(
                f"{_escape(pack.factor_label(name))} +{{}} points ({{}})",
                _fixed(contribution, 1, 100),
                evidence,
            )
        )
        if factor.missing == "exclude":
            left_out.append(
                pl.when(fscore.is_null()).then(
                    pl.lit(f"{pack.factor_label(name)}: no data, left out")
                )
            )
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


def _fixed(value: pl.Expr, digits: int, top: int) -> pl.Expr:
    """``value`` (in [0, top]) rounded to ``digits`` decimals, as text (``0.85``, ``21.2``).

    A lookup in a table of every possible text: converting hundreds of thousands of floats to
    text is the cost of the explanation, and these values have only a few hundred spellings.
    """
    steps = 10**digits
    table = pl.Series([str(round(i / steps, digits)) for i in range(top * steps + 1)])
    index = (value * steps).round(0).clip(0, top * steps).cast(pl.Int64)
    return pl.lit(table).gather(index)


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
        cut_long(
            frame.slice(start, slice_rows)
            .select(explanation_expr(pack).alias("score_explanation"))
            .to_series(),
            pack.scoring.explanation.max_length,
        )
        for start in range(0, frame.height, slice_rows)
    ]
    if not parts:
        return pl.Series("score_explanation", [], dtype=pl.Utf8)
    return pl.concat(parts)


def _escape(label: str) -> str:
    """A label safe inside a ``pl.format`` template."""
    return label.replace("{", "(").replace("}", ")")


def truncated(pack: RulePack, text: pl.Expr) -> pl.Expr:
    """``text`` cut to the explanation's configured length (see ``cut_at_word``)."""
    return cut_at_word(text, pack.scoring.explanation.max_length)


def cut_long(texts: pl.Series, limit: int) -> pl.Series:
    """``texts`` with those longer than ``limit`` cut by ``cut_at_word``; only those are read
    again (most texts fit, and cutting costs several passes over a text)."""
    long = texts.str.len_chars() > limit
    if not long.any():
        return texts
    cut = pl.select(cut_at_word(pl.lit(texts.filter(long)), limit)).to_series()
    return texts.scatter(long.arg_true(), cut)


def cut_at_word(text: pl.Expr, limit: int) -> pl.Expr:
    """``text`` cut to at most ``limit`` characters at a word boundary, ending in an ellipsis.

    A word is never cut in half (a text with no space in reach is cut hard), and separators
    left dangling at the cut (``;``, ``,``, ``(``, ``:``) go too. Apply it to a materialised
    column: the text is read several times here.
    """
    head = text.str.slice(0, limit - 1)
    at_boundary = text.str.slice(limit - 1, 1).str.contains(r"^\s")
    whole_words = pl.when(at_boundary).then(head).otherwise(head.str.replace(r"\S+$", ""))
    tidy = whole_words.str.replace(r"[\s;,:(+]+$", "")
    cut = pl.when(tidy.str.len_chars() == 0).then(head).otherwise(tidy)
    return (
        pl.when(text.str.len_chars() > limit).then(pl.concat_str(cut, pl.lit("…"))).otherwise(text)
    )


def _shown(raw: pl.Expr, scale_type: str, *, whole: bool) -> pl.Expr:
    """Raw values as text: money and counts without decimals, other numbers with two,
    true/false as yes/no."""
    if scale_type in NUMERIC_SCALES and whole:
        return raw.round(0).cast(pl.Int64).cast(pl.Utf8)
    if scale_type in NUMERIC_SCALES:
        return raw.round(2).cast(pl.Utf8)
    if scale_type == "boolean":
        return pl.when(raw).then(pl.lit("yes")).when(raw.is_not_null()).then(pl.lit("no"))
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
