"""Attach columns from a keyed table to a wide frame without copying the wide frame.

A left join rebuilds every column of its left side; the portfolio frame is wide (canonical
columns, metrics, scores, long explanation texts), so joining onto it costs far more than the
few columns it gains. Joining the key column alone and stacking the result beside the frame
keeps the frame's columns as they are.
"""

from __future__ import annotations

import polars as pl


def attach(
    frame: pl.DataFrame, table: pl.DataFrame, key: str, *, table_key: str | None = None
) -> pl.DataFrame:
    """``frame`` with the columns of ``table`` (one row per key, or none) matched on ``key``."""
    right_key = table_key or key
    table = (
        table.unique(right_key, keep="last") if not table[right_key].is_unique().all() else table
    )
    matched = frame.select(key).join(
        table, left_on=key, right_on=right_key, how="left", maintain_order="left"
    )
    return frame.hstack(matched.drop(key))
