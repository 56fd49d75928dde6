"""Which KAM fields to write: desired values vs the CRM's current values vs what we last wrote.

Worked column by column over the whole portfolio (polars); only accounts with something to
write become Python objects. For each write-back field:

- the desired value is brought to the field's precision (score rounded to its scale, text cut
  to its length, flags sorted) and compared with the CRM's current value the same way;
- equal: nothing to write (this is how the echo of our own last write costs nothing);
- different, and the current value is neither what we last wrote nor empty-because-never-
  written: a person edited it; the field is protected (skipped and flagged ``manual_override``)
  unless the mapping lets kam-sync overwrite it;
- otherwise: written.

``kam_last_assessed`` is written together with any other change, never alone, so that a run
with nothing new writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from kam_sync.config.mapping import WriteBackTarget
from kam_sync.writeback.values import scale_of, text_length

# Engine output column -> write-back field.
ASSESSMENT_TO_FIELD = {
    "tier": "kam_tier",
    "classification": "kam_classification",
    "score": "kam_score",
    "score_explanation": "kam_score_explanation",
    "plan_stage": "kam_plan_stage",
    "checklist_completion": "kam_checklist_completion",
    "checklist_gaps": "kam_checklist_gaps",
    "flags": "kam_flags",
}
LAST_ASSESSED = "kam_last_assessed"
DIFF_SLICE_ROWS = 5_000
MANUAL_OVERRIDE = "manual_override"


@dataclass(frozen=True, slots=True)
class ProtectedValue:
    """A KAM value a person changed in the CRM, left alone this run."""

    account_id: str
    field: str
    current: Any
    last_written: Any
    desired: Any


@dataclass(slots=True)
class WritePlan:
    """What one run will write: canonical values by account and field, and what it protects."""

    updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    current: dict[str, dict[str, Any]] = field(default_factory=dict)
    protected: list[ProtectedValue] = field(default_factory=list)

    def changes_by_field(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for values in self.updates.values():
            for name in values:
                counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def field_count(self) -> int:
        return sum(len(v) for v in self.updates.values())


def _normalized(expr: pl.Expr, target: WriteBackTarget, dtype: pl.DataType) -> pl.Expr:
    """Bring a column to the precision of the CRM field, for comparison."""
    if isinstance(dtype, pl.List):
        return expr.list.unique().list.sort()
    if dtype == pl.Utf8:
        # CRMs store an empty text as no value at all (Salesforce returns null for "").
        expr = pl.when(expr.str.len_chars() == 0).then(pl.lit(None, dtype=pl.Utf8)).otherwise(expr)
    if target.type in ("number", "percent"):
        return expr.cast(pl.Float64).round(scale_of(target))
    if target.type in ("text", "longtext"):
        length = text_length(target)
        return expr.str.slice(0, length) if length else expr
    return expr


def plan_writes(
    desired: pl.DataFrame,
    current: pl.DataFrame,
    written: pl.DataFrame,
    targets: dict[str, WriteBackTarget],
    *,
    as_of: datetime,
    overwrite_manual_default: bool,
    excluded: set[tuple[str, str]] | None = None,
) -> WritePlan:
    """The write plan for ``desired`` (engine output: account_id + assessment columns).

    ``current``: ``id`` + ``kam_*`` as the CRM holds them (snapshot). ``written``: ``account_id``
    + ``kam_*`` as kam-sync last wrote them. ``excluded``: (account, field) pairs not to write
    (dead letters).
    """
    fields = [f for f in ASSESSMENT_TO_FIELD.values() if f in targets]
    want = desired.select(
        pl.col("account_id"),
        *[
            pl.col(src).alias(f"want_{dst}")
            for src, dst in ASSESSMENT_TO_FIELD.items()
            if dst in fields
        ],
    )
    have = current.select(
        pl.col("id").alias("account_id"), *[pl.col(f).alias(f"have_{f}") for f in fields]
    )
    wrote = written.select(pl.col("account_id"), *[pl.col(f).alias(f"wrote_{f}") for f in fields])
    plan = WritePlan()
    # A slice of accounts at a time: normalizing a long text field (the score explanation)
    # makes copies of it, which over a whole 50,000-account portfolio would cost tens of MB.
    for start in range(0, want.height, DIFF_SLICE_ROWS):
        table = want.slice(start, DIFF_SLICE_ROWS)
        table = table.join(have, on="account_id", how="left", maintain_order="left").join(
            wrote, on="account_id", how="left", maintain_order="left"
        )
        _add_to_plan(
            plan,
            _compared(table, fields, targets, overwrite_manual_default),
            fields=fields,
            targets=targets,
            as_of=as_of,
            skip=excluded or set(),
        )
    return plan


def _compared(
    table: pl.DataFrame,
    fields: list[str],
    targets: dict[str, WriteBackTarget],
    overwrite_manual_default: bool,
) -> pl.DataFrame:
    """``table`` with ``write_*`` and ``protected_*`` for each field, and the wanted values
    brought to each field's precision; only rows with something to write or protect."""
    protected_cols = []
    for name in fields:
        dtype = table.schema[f"want_{name}"]
        target = targets[name]
        w = _normalized(pl.col(f"want_{name}"), target, dtype)
        h = _normalized(pl.col(f"have_{name}"), target, dtype)
        o = _normalized(pl.col(f"wrote_{name}"), target, dtype)
        overwrite = target.overwrite_manual_edits
        if overwrite is None:
            overwrite = overwrite_manual_default
        differs = ~w.eq_missing(h)
        edited = pl.col(f"wrote_{name}").is_not_null() & ~h.eq_missing(o) & differs
        is_protected = edited & pl.lit(not overwrite)
        table = table.with_columns(
            (differs & ~is_protected).alias(f"write_{name}"),
            is_protected.alias(f"protected_{name}"),
            w.alias(f"want_{name}"),
        )
        if name != "kam_flags":
            protected_cols.append(f"protected_{name}")

    if "kam_flags" in fields and protected_cols:
        # A protected field is reported on the account itself through its flags.
        any_protected = pl.any_horizontal(protected_cols)
        flags = (
            pl.when(any_protected)
            .then(
                pl.concat_list(pl.col("want_kam_flags"), pl.lit([MANUAL_OVERRIDE]))
                .list.unique()
                .list.sort()
            )
            .otherwise(pl.col("want_kam_flags"))
        )
        table = table.with_columns(flags.alias("want_kam_flags"))
        target = targets["kam_flags"]
        dtype = table.schema["want_kam_flags"]
        h = _normalized(pl.col("have_kam_flags"), target, dtype)
        o = _normalized(pl.col("wrote_kam_flags"), target, dtype)
        differs = ~pl.col("want_kam_flags").eq_missing(h)
        overwrite = target.overwrite_manual_edits
        if overwrite is None:
            overwrite = overwrite_manual_default
        edited = pl.col("wrote_kam_flags").is_not_null() & ~h.eq_missing(o) & differs
        table = table.with_columns(
            (differs & ~(edited & pl.lit(not overwrite))).alias("write_kam_flags"),
            (edited & pl.lit(not overwrite)).alias("protected_kam_flags"),
        )

    write_cols = [f"write_{n}" for n in fields]
    flag_cols = write_cols + [f"protected_{n}" for n in fields]
    return table.filter(pl.any_horizontal(flag_cols)) if fields else table.clear()


def _add_to_plan(
    plan: WritePlan,
    interesting: pl.DataFrame,
    *,
    fields: list[str],
    targets: dict[str, WriteBackTarget],
    as_of: datetime,
    skip: set[tuple[str, str]],
) -> None:
    """Add the writes and protected values of ``interesting`` (see ``_compared``) to ``plan``."""
    for row in interesting.iter_rows(named=True):
        account_id = row["account_id"]
        values: dict[str, Any] = {}
        before: dict[str, Any] = {}
        for name in fields:
            if row[f"protected_{name}"]:
                plan.protected.append(
                    ProtectedValue(
                        account_id,
                        name,
                        row[f"have_{name}"],
                        row[f"wrote_{name}"],
                        row[f"want_{name}"],
                    )
                )
            elif row[f"write_{name}"] and (account_id, name) not in skip:
                values[name] = row[f"want_{name}"]
                before[name] = row[f"have_{name}"]
        if values:
            if LAST_ASSESSED in targets:
                values[LAST_ASSESSED] = as_of
            plan.updates[account_id] = values
            plan.current[account_id] = before
