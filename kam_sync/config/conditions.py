"""Conditions in mappings and rules: SQL boolean expressions over canonical columns.

Ops engineers write the WHERE-clause dialect they know from SOQL and SQL::

    won_amount_12m >= 250000 AND industry IN ('Banking', 'Insurance')

A condition is parsed once, when the file loads, by polars' SQL front end; names are checked
against the columns that will exist, and the expression is type-checked by evaluating it on an
empty frame of the real schema. It is evaluated column-wise over the whole portfolio, never
with Python ``eval``.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from kam_sync.config.suggest import did_you_mean


class ConditionError(ValueError):
    """A condition that does not parse, names an unknown column, or is not boolean."""


def compile_condition(text: str, schema: Mapping[str, pl.DataType] | None = None) -> pl.Expr:
    """Parse ``text`` to a polars expression; with ``schema``, also check names and type.

    Raises ConditionError with a message fit for ``file:line:col: <message>``.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConditionError("condition must be a non-empty SQL boolean expression")
    try:
        expr = pl.sql_expr(text)
    except Exception as exc:  # polars raises several SQL error types; all mean "does not parse"
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConditionError(f"condition does not parse as SQL: {detail}") from None
    if schema is None:
        return expr
    names = set(expr.meta.root_names())
    unknown = sorted(n for n in names if n not in schema)
    if unknown:
        first = unknown[0]
        hint = did_you_mean(first, schema.keys())
        more = f" (and {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
        raise ConditionError(f"condition names unknown column '{first}'{hint}{more}")
    empty = pl.DataFrame(schema=dict(schema))
    try:
        dtype = empty.select(expr.alias("__condition__")).schema["__condition__"]
    except Exception as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConditionError(f"condition cannot be evaluated on these columns: {detail}") from None
    if dtype not in (pl.Boolean, pl.Null):
        raise ConditionError(
            f"condition must be true or false, but it gives a value of type {dtype}"
        )
    return expr
