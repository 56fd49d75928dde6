"""The snapshot as polars tables.

Rows are fetched in batches as plain tuples of the database's own types (no per-value Python
conversion: money stays decimal text, datetimes stay text on SQLite, lists stay JSON text),
and converted column by column in polars. This is what keeps loading 250,000 opportunities
cheap in time and memory.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Text,
    cast,
    select,
    type_coerce,
)

from kam_sync.canonical import ACCOUNT_SCHEMA, MONEY, OPPORTUNITY_SCHEMA, UTC_DATETIME
from kam_sync.store import StateStore, schema

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "account": ACCOUNT_SCHEMA,
    "opportunity": OPPORTUNITY_SCHEMA,
}
_TABLES = {"account": schema.account_snapshot, "opportunity": schema.opportunity_snapshot}


def _raw_type(dtype: pl.DataType, native_dates: bool) -> Any:
    """The plain SQL type to read a column as, bypassing the store's Python-side converters."""
    if isinstance(dtype, pl.List):
        return Text()
    if dtype == UTC_DATETIME:
        return DateTime(timezone=True) if native_dates else Text()
    if dtype == pl.Date:
        return Date() if native_dates else Text()
    if dtype == pl.Boolean:
        return Boolean()
    if dtype == pl.Int64:
        return Integer()
    if dtype == pl.Float64:
        return Float()
    return Text()


def _raw_dtype(dtype: pl.DataType, native_dates: bool) -> pl.DataType:
    if dtype in (pl.Boolean, pl.Int64, pl.Float64):
        return dtype
    if native_dates and dtype in (UTC_DATETIME, pl.Date):
        return dtype
    return pl.Utf8()


def _convert(name: str, dtype: pl.DataType, native_dates: bool) -> pl.Expr:
    col = pl.col(name)
    if dtype == MONEY:
        return col.cast(MONEY).alias(name)  # decimal text to an exact Decimal
    if native_dates and dtype in (UTC_DATETIME, pl.Date):
        return col.alias(name)  # the driver gives typed values (PostgreSQL)
    if dtype == UTC_DATETIME:
        # SQLite keeps "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC); PostgreSQL text has an offset.
        return col.str.to_datetime(time_zone="UTC", time_unit="us", strict=False).alias(name)
    if dtype == pl.Date:
        return col.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).alias(name)
    if isinstance(dtype, pl.List):
        return col.str.json_decode(dtype).alias(name)
    return col.cast(dtype).alias(name)


def load_snapshot(
    store: StateStore,
    object_name: str,
    *,
    columns: tuple[str, ...] | None = None,
    batch_size: int = 2_000,
) -> pl.DataFrame:
    """All live records of one object as a canonical table, ordered by id.

    ``columns`` limits the table to those columns (the rules engine needs few opportunity
    columns, and 250,000 opportunity names cost memory for nothing).
    """
    table_schema = SCHEMAS[object_name]
    if columns is not None:
        table_schema = {name: table_schema[name] for name in columns}
    table = _TABLES[object_name]
    # SQLite has no date types (values come back as text); PostgreSQL's driver types them.
    native = store.engine.dialect.name != "sqlite"
    selected = [
        # Money is read as text on both dialects: PostgreSQL's NUMERIC would otherwise come back
        # as one Python Decimal per value.
        (
            cast(table.c[name], Text())
            if dtype == MONEY
            else type_coerce(table.c[name], _raw_type(dtype, native))
        ).label(name)
        for name, dtype in table_schema.items()
    ]
    query = select(*selected).where(table.c.is_deleted.is_(False)).order_by(table.c.id)
    raw_schema = {name: _raw_dtype(dtype, native) for name, dtype in table_schema.items()}
    parts = []
    with store.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(query)
        for rows in result.partitions(batch_size):
            raw = pl.DataFrame([tuple(r) for r in rows], schema=raw_schema, orient="row")
            parts.append(
                raw.select(_convert(name, dtype, native) for name, dtype in table_schema.items())
            )
    if not parts:
        return pl.DataFrame(schema=table_schema)
    return pl.concat(parts, how="vertical", rechunk=False)
