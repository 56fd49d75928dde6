"""Checklist completion: per category and overall, not-applicable questions left out."""

from __future__ import annotations

import polars as pl

from kam_sync.rules.pack import RulePack


def checklist_columns(pack: RulePack) -> list[pl.Expr]:
    """``checklist_<category>``, ``checklist_completion`` (0..100, null when nothing applies)
    and ``_gaps`` (the least complete categories, as text)."""
    answers = pl.col("checklist_answers")
    marked_na = pl.col("checklist_not_applicable")
    done: dict[str, list[pl.Expr]] = {}
    applicable: dict[str, list[pl.Expr]] = {}
    for q in pack.questions:
        answered = answers.list.contains(pl.lit(q.id)).fill_null(False)
        if q.evidence is not None:
            answered = answered | q.evidence
        na = marked_na.list.contains(pl.lit(q.id)).fill_null(False)
        if q.not_applicable is not None:
            na = na | q.not_applicable
        applies = (~na).cast(pl.Int32)
        applicable.setdefault(q.category, []).append(applies)
        done.setdefault(q.category, []).append((answered & ~na).cast(pl.Int32))
    exprs: list[pl.Expr] = []
    for category, applies_list in applicable.items():
        exprs += [
            pl.sum_horizontal(done[category]).alias(f"_done_{category}"),
            pl.sum_horizontal(applies_list).alias(f"_applies_{category}"),
        ]
    return exprs


def completion_columns(pack: RulePack) -> list[pl.Expr]:
    """From the counts of ``checklist_columns``: percentages per category and overall."""
    categories = list(pack.checklist.categories)
    exprs = [_percent(pl.col(f"_done_{c}"), pl.col(f"_applies_{c}")).alias(f"checklist_{c}")
             for c in categories]  # fmt: skip
    total_done = pl.sum_horizontal([pl.col(f"_done_{c}") for c in categories])
    total_applies = pl.sum_horizontal([pl.col(f"_applies_{c}") for c in categories])
    exprs.append(_percent(total_done, total_applies).alias("checklist_completion"))
    return exprs


def gaps_expr(pack: RulePack) -> pl.Expr:
    """The least complete categories, lowest first: ``competitors 0% (0/6); value 25% (2/8)``.

    Sorting happens inside each row's list: a zero-padded sort key is put in front of each
    entry and cut off afterwards, so no Python loop over accounts is needed.
    """
    entries = []
    for index, c in enumerate(pack.checklist.categories):
        pct = pl.col(f"checklist_{c}")
        entry = pl.format(
            "{}{}|{} {}% ({}/{})",
            (pct * 10).round(0).cast(pl.Int64).cast(pl.Utf8).str.zfill(4),
            pl.lit(f"{index:02d}"),
            pl.lit(c),
            pct.round(0).cast(pl.Int64),
            pl.col(f"_done_{c}"),
            pl.col(f"_applies_{c}"),
        )
        entries.append(pl.when(pct < 100).then(entry))
    worst = (
        pl.concat_list(entries)
        .list.drop_nulls()
        .list.sort()
        .list.head(pack.checklist.gaps.max_categories)
        .list.eval(pl.element().str.split_exact("|", 1).struct.field("field_1"))
        .list.join("; ")
    )
    return worst


def _percent(done: pl.Expr, applies: pl.Expr) -> pl.Expr:
    return pl.when(applies > 0).then(done.cast(pl.Float64) * 100 / applies).round(2)
