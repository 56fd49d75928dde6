"""The snapshot as polars tables, built batch by batch (never one Python object per row at once)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from kam_sync.canonical import ACCOUNT_SCHEMA, OPPORTUNITY_SCHEMA
from kam_sync.store import StateStore

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "account": ACCOUNT_SCHEMA,
    "opportunity": OPPORTUNITY_SCHEMA,
}


def frame_from_records(records: Iterable[dict[str, Any]], object_name: str) -> pl.DataFrame:
    """A canonical table from canonical records (missing fields are null)."""
    schema = SCHEMAS[object_name]
    rows = [{k: r.get(k) for k in schema} for r in records]
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def load_snapshot(store: StateStore, object_name: str, batch_size: int = 20_000) -> pl.DataFrame:
    """All live records of one object as a canonical table."""
    parts = [
        frame_from_records(batch, object_name)
        for batch in store.iter_snapshot(object_name, batch_size=batch_size)
    ]
    if not parts:
        return pl.DataFrame(schema=SCHEMAS[object_name])
    return pl.concat(parts, how="vertical", rechunk=True)
