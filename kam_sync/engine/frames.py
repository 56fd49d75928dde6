"""The snapshot as polars tables.

Rows are fetched in batches as plain tuples of the database's own types (no per-value Python
conversion: money stays decimal text, datetimes stay text on SQLite, lists stay JSON text),
and converted column by column in polars. This is what keeps loading 250,000 opportunities
cheap in time and memory.
"""

from __future__ import annotations

from collections.abc import Collection
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

from kam_sync.canonical import (
    ACCOUNT_FIELDS,
    ACCOUNT_SCHEMA,
    KAM_OUTPUT_FIELDS,
    MONEY,
    OPPORTUNITY_SCHEMA,
    UTC_DATETIME,
)
from kam_sync.store import StateStore, schema

# The account columns the rules engine reads: every canonical field but kam-sync's own outputs.
ACCOUNT_INPUT_COLUMNS = tuple(name for name in ACCOUNT_FIELDS if name not in KAM_OUTPUT_FIELDS)
# The opportunity columns the rules engine reads (metrics); the rest stay in the store.
ENGINE_OPPORTUNITY_COLUMNS = (
    "id",
    "account_id",
    "amount",
    "is_closed",
    "is_won",
    "probability",
    "opportunity_type",
    "close_date",
    "created_at",
    "is_deleted",
)

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
    overlay: StateStore | None = None,
    gone: Collection[str] = (),
) -> pl.DataFrame:
    """All live records of one object as a canonical table, ordered by id.

    ``columns`` limits the table to those columns (the rules engine needs few opportunity
    columns, and 250,000 opportunity names cost memory for nothing). ``overlay`` is a scratch
    store holding records pulled since (a plan's pull, which leaves the real store alone): its
    records replace the store's by id, and those it marks deleted leave the table. ``gone`` are
    ids that pull saw deleted: the overlay cannot hold them all (the store keeps a deleted
    record only as a mark on a row it has), so they are named here and leave the table too.
    """
    table_schema = SCHEMAS[object_name]
    if columns is not None:
        table_schema = {name: table_schema[name] for name in columns}
    base = _load(store, object_name, table_schema, batch_size, live_only=True)
    if gone:
        base = base.filter(~pl.col("id").is_in(list(gone)))
    if overlay is None:
        return base
    with_deleted = table_schema | {"is_deleted": SCHEMAS[object_name]["is_deleted"]}
    pulled = _load(overlay, object_name, with_deleted, batch_size, live_only=False)
    if pulled.height == 0:
        return base
    kept = base.join(pulled.select("id"), on="id", how="anti")
    live = pulled.filter(~pl.col("is_deleted")).select(list(table_schema))
    return pl.concat([kept, live], how="vertical").sort("id")


def _load(
    store: StateStore,
    object_name: str,
    table_schema: dict[str, pl.DataType],
    batch_size: int,
    *,
    live_only: bool,
) -> pl.DataFrame:
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
    query = select(*selected).order_by(table.c.id)
    if live_only:
        query = query.where(table.c.is_deleted.is_(False))
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
