"""Sample values of every column type, for trying a condition before it meets real data.

A condition that works on an empty frame can still fail on values: ``CAST(name AS INTEGER)``
on a name that is not a number, ``strptime`` on text that is not a date, ``CAST(x AS SMALLINT)``
on a large number. Each column gets the values a CRM field of its type can hold that most often
break such expressions: nulls, empty text, text that is not a number or a date, zero, negatives,
the extremes of the type, and, for closed value sets, every allowed value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Final

import polars as pl

from kam_sync import canonical

TEXT_SAMPLES: Final[tuple[str | None, ...]] = (
    None, "", "abc", "not a number", "12", "-3.5", "2024-02-29", "N/A", "Ünïcode ✓",
    "  padded  ", "O'Brien",
)  # fmt: skip
FLOAT_SAMPLES: Final[tuple[float | None, ...]] = (
    None, 0.0, 0.5, 1.0, -2.25, 100.0, 1e300, -1e300, math.nan,
)  # fmt: skip
# Salesforce's valid dates run from 1700-01-01 to 4000-12-31 ("Valid Date and DateTime Values",
# Salesforce Help); HubSpot's lie within them.
DATE_SAMPLES: Final[tuple[date | None, ...]] = (
    None, date(1700, 1, 1), date(1970, 1, 1), date(2024, 2, 29), date(4000, 12, 31),
)  # fmt: skip

_INT_RANGES: Final[dict[type[pl.DataType], tuple[int, int]]] = {
    pl.Int8: (-(2**7), 2**7 - 1),
    pl.Int16: (-(2**15), 2**15 - 1),
    pl.Int32: (-(2**31), 2**31 - 1),
    pl.Int64: (-(2**63), 2**63 - 1),
    pl.UInt8: (0, 2**8 - 1),
    pl.UInt16: (0, 2**16 - 1),
    pl.UInt32: (0, 2**32 - 1),
    pl.UInt64: (0, 2**64 - 1),
}


def sample_values(dtype: pl.DataType, allowed: Sequence[str] = ()) -> list[object]:
    """Values a column of ``dtype`` may hold; ``allowed`` adds a closed value set's values."""
    if dtype == pl.Utf8:
        return [*TEXT_SAMPLES, *allowed]
    if dtype == pl.Boolean:
        return [None, True, False]
    for kind, (low, high) in _INT_RANGES.items():
        if dtype == kind:
            return [v for v in (None, 0, 1, -1, 7, low, high) if v is None or low <= v <= high]
    if dtype in (pl.Float32, pl.Float64):
        return list(FLOAT_SAMPLES)
    if isinstance(dtype, pl.Decimal):
        scale = dtype.scale or 0
        # An amount beyond MONEY_INTEGER_DIGITS is set aside when normalizing, so no column
        # holds one: the extremes are the largest amounts a run can meet, not the type's.
        digits = min((dtype.precision or 38) - scale, canonical.MONEY_INTEGER_DIGITS)
        largest = Decimal("9" * digits + ("." + "9" * scale if scale else ""))
        return [None, Decimal(0), Decimal("1.5"), Decimal(-1), largest, -largest]
    if dtype == pl.Date:
        return list(DATE_SAMPLES)
    if isinstance(dtype, pl.Datetime):
        moments = [datetime.combine(d, datetime.min.time(), UTC) for d in DATE_SAMPLES if d]
        return [None, *moments]
    if isinstance(dtype, pl.List):
        inner_type = dtype.inner if isinstance(dtype.inner, pl.DataType) else dtype.inner()
        inner = [v for v in sample_values(inner_type, allowed) if v is not None]
        return [None, [], inner[:2], inner[2:4], list(allowed)] if allowed else [None, [], inner]
    return [None]


def sample_frame(
    columns: Mapping[str, pl.DataType],
    *,
    allowed: Mapping[str, Sequence[str]] | None = None,
    exact: Mapping[str, Sequence[object]] | None = None,
) -> pl.DataFrame:
    """One frame holding every sample of every column (shorter lists repeat).

    ``allowed``: a column's closed value set, added to the samples of its type. ``exact``: the
    only values a column can hold (a computed column, such as a score in 0..100).
    """
    allowed = allowed or {}
    exact = exact or {}
    values = {
        name: list(exact[name]) if name in exact else sample_values(dtype, allowed.get(name, ()))
        for name, dtype in columns.items()
    }
    rows = max((len(v) for v in values.values()), default=0)
    series = []
    for name, dtype in columns.items():
        column = values[name] or [None]
        repeated = [column[i % len(column)] for i in range(rows)]
        series.append(pl.Series(name, repeated, dtype=dtype, strict=False))
    return pl.DataFrame(series)
