"""Checklist completion: per category and overall, not-applicable questions left out.

Each account's answers become bit masks (one bit per question, 60 questions per 64-bit word):
the ticked and not-applicable lists are folded into a mask once, evidence conditions set bits,
and a category's counts are population counts of the masks under the category's bits. That is
a handful of integer operations per account instead of one list search per question.
"""

from __future__ import annotations

import polars as pl

from kam_sync.config.rule_pack import CompiledQuestion, RulePack

_WORD = 60  # questions per mask word; stays clear of the sign bit


def _words(pack: RulePack) -> list[list[CompiledQuestion]]:
    qs = pack.questions
    return [qs[i : i + _WORD] for i in range(0, len(qs), _WORD)]


def _list_mask(column: str, questions: list[CompiledQuestion]) -> pl.Expr:
    ids = [q.id for q in questions]
    bits = [1 << i for i in range(len(questions))]
    return (
        pl.col(column)
        .list.eval(
            pl.element().replace_strict(ids, bits, default=0, return_dtype=pl.UInt64).bitwise_or()
        )
        .list.first()
        .fill_null(0)
    )


def _condition_mask(questions: list[CompiledQuestion], which: str) -> pl.Expr:
    parts = [
        pl.when(cond).then(pl.lit(1 << i, dtype=pl.UInt64)).otherwise(pl.lit(0, dtype=pl.UInt64))
        for i, q in enumerate(questions)
        if (cond := q.evidence if which == "evidence" else q.not_applicable) is not None
    ]
    if not parts:
        return pl.lit(0, dtype=pl.UInt64)
    return pl.sum_horizontal(parts).cast(pl.UInt64)


def mask_columns(pack: RulePack) -> list[pl.Expr]:
    """``_answered_<w>`` and ``_na_<w>`` bit masks per word of questions."""
    exprs: list[pl.Expr] = []
    for w, questions in enumerate(_words(pack)):
        answered = _list_mask("checklist_answers", questions) | _condition_mask(
            questions, "evidence"
        )
        na = _list_mask("checklist_not_applicable", questions) | _condition_mask(
            questions, "not_applicable"
        )
        exprs += [answered.alias(f"_answered_{w}"), na.alias(f"_na_{w}")]
    return exprs


def count_columns(pack: RulePack) -> list[pl.Expr]:
    """``_done_<category>`` and ``_applies_<category>`` from the masks."""
    done: dict[str, list[pl.Expr]] = {}
    applies: dict[str, list[pl.Expr]] = {}
    for w, questions in enumerate(_words(pack)):
        answered, na = pl.col(f"_answered_{w}"), pl.col(f"_na_{w}")
        for category in pack.checklist.categories:
            bits = sum(1 << i for i, q in enumerate(questions) if q.category == category)
            if not bits:
                continue
            cat = pl.lit(bits, dtype=pl.UInt64)
            applies.setdefault(category, []).append(
                pl.lit(bin(bits).count("1"), dtype=pl.UInt32) - (na & cat).bitwise_count_ones()
            )
            done.setdefault(category, []).append(
                (answered & cat).bitwise_count_ones() - (answered & na & cat).bitwise_count_ones()
            )
    exprs: list[pl.Expr] = []
    for category in pack.checklist.categories:
        exprs += [
            pl.sum_horizontal(done[category]).cast(pl.Int64).alias(f"_done_{category}"),
            pl.sum_horizontal(applies[category]).cast(pl.Int64).alias(f"_applies_{category}"),
        ]
    return exprs


def completion_columns(pack: RulePack) -> list[pl.Expr]:
    """From the counts: ``checklist_<category>`` and ``checklist_completion`` (0..100; null
    when no question applies)."""
    categories = list(pack.checklist.categories)
    exprs = [_percent(pl.col(f"_done_{c}"), pl.col(f"_applies_{c}")).alias(f"checklist_{c}")
             for c in categories]  # fmt: skip
    total_done = pl.sum_horizontal([pl.col(f"_done_{c}") for c in categories])
    total_applies = pl.sum_horizontal([pl.col(f"_applies_{c}") for c in categories])
    exprs.append(_percent(total_done, total_applies).alias("checklist_completion"))
    return exprs


def open_question_expr(pack: RulePack, question_index: int) -> pl.Expr:
    """True where the question applies and is not answered (needs the mask columns)."""
    word, bit = divmod(question_index, _WORD)
    mask = pl.lit(1 << bit, dtype=pl.UInt64)
    answered = (pl.col(f"_answered_{word}") & mask) != 0
    not_applicable = (pl.col(f"_na_{word}") & mask) != 0
    return ~answered & ~not_applicable


def gaps_expr(pack: RulePack) -> pl.Expr:
    """The least complete categories, lowest first, each with its open questions by their text:
    ``Competitors in the account 0% (0/6): Do we know ...? Where do ...?; Value ...``.

    Sorting happens inside each row's list: a zero-padded sort key is put in front of each
    entry and cut off afterwards, so no Python loop over accounts is needed. The text is cut
    to ``gaps.max_length`` by the caller (``cut_at_word``), after as many questions as fit.
    """
    entries = []
    index_of = {id(q): i for i, q in enumerate(pack.questions)}
    for index, c in enumerate(pack.checklist.categories):
        pct = pl.col(f"checklist_{c}")
        questions = [
            pl.when(open_question_expr(pack, index_of[id(q)])).then(pl.lit(q.text))
            for q in pack.questions
            if q.category == c
        ]
        entry = pl.concat_str(
            (pct * 10).round(0).cast(pl.Int64).cast(pl.Utf8).str.zfill(4),
            pl.lit(f"{index:02d}|{pack.category_title(c)} "),
            pct.round(0).cast(pl.Int64).cast(pl.Utf8),
            pl.lit("% ("),
            pl.col(f"_done_{c}").cast(pl.Utf8),
            pl.lit("/"),
            pl.col(f"_applies_{c}").cast(pl.Utf8),
            pl.lit("): "),
            pl.concat_str(questions, separator=" ", ignore_nulls=True),
        )
        entries.append(pl.when(pct < 100).then(entry))
    return (
        pl.concat_list(entries)
        .list.drop_nulls()
        .list.sort()
        .list.head(pack.checklist.gaps.max_categories)
        .list.eval(pl.element().str.slice(7))
        .list.join("; ")
    )


def _percent(done: pl.Expr, applies: pl.Expr) -> pl.Expr:
    return pl.when(applies > 0).then(done.cast(pl.Float64) * 100 / applies).round(2)
