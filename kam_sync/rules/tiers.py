"""Classification (existing key / emerging key / not key) and the ordered tier list."""

from __future__ import annotations

import polars as pl

from kam_sync.config.rule_pack import RulePack


def classification_expr(pack: RulePack) -> pl.Expr:
    """The first classification whose condition holds; the last one catches the rest."""
    *rules, (last, _) = pack.classification
    chain: pl.Expr = pl.lit(last, dtype=pl.Utf8)
    for name, cond in reversed(rules):
        chain = (
            pl.when(cond if cond is not None else pl.lit(True)).then(pl.lit(name)).otherwise(chain)
        )
    return chain


def tier_expr(pack: RulePack, score: pl.Expr) -> pl.Expr:
    """The first tier (from the top) whose ``min_score`` and condition both hold for ``score``.

    Tier conditions that name ``score`` see the column as it is; anti-flapping shifts the
    ``score`` column itself before calling this (see governance.py).
    """
    *rules, (last, _, _) = pack.tiers
    chain: pl.Expr = pl.lit(last, dtype=pl.Utf8)
    for name, min_score, cond in reversed(rules):
        test = pl.lit(True)
        if min_score is not None:
            test = test & (score >= min_score)
        if cond is not None:
            test = test & cond
        chain = pl.when(test).then(pl.lit(name)).otherwise(chain)
    return chain
