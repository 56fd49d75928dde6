"""What kam-sync wrote or was about to write (to tell its echo from a person's edit) and the
retry queue of failed writes.

Three tables hold kam-sync's side of each write-back value:

- ``written_value``: what the CRM last confirmed (or what kam-sync saw the CRM hold and adopted);
- ``pending_write``: what a push is about to send, recorded before the push in its own
  transaction (write-ahead). A kill between the CRM's answer and the store's record of it, or a
  reply lost while the CRM applied the write, leaves the value here, so the next run still
  knows it as its own;
- ``retry_queue``: writes that failed, tried again by later runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, bindparam, select

from kam_sync.canonical import ACCOUNT_SCHEMA, KAM_OUTPUT_FIELDS
from kam_sync.store import schema
from kam_sync.store.store import StateStore

# Rows per statement when recording writes: small slices keep the peak memory of a first
# write-back of 50,000 accounts low, and cost no time.
WRITE_RECORD_BATCH = 1_000
WRITTEN_SCHEMA = {"account_id": pl.Utf8(), **{f: ACCOUNT_SCHEMA[f] for f in KAM_OUTPUT_FIELDS}}
# The compared KAM fields; ``kam_last_assessed`` goes with every write and is never compared.
PENDING_FIELDS = tuple(f for f in KAM_OUTPUT_FIELDS if f != "kam_last_assessed")
PENDING_SCHEMA = {
    "account_id": pl.Utf8(),
    **{f: ACCOUNT_SCHEMA[f] for f in PENDING_FIELDS},
    **{f"sent_{f}": pl.Boolean() for f in PENDING_FIELDS},
}


def load_written(store: StateStore, batch_size: int = 2_000) -> pl.DataFrame:
    """Last written value of every KAM field by account (null: never written)."""
    table = schema.written_value
    columns = [table.c.account_id, *[table.c[f] for f in KAM_OUTPUT_FIELDS]]
    return _streamed(store, columns, WRITTEN_SCHEMA, batch_size)


def _streamed(
    store: StateStore,
    columns: Sequence[Any],
    frame_schema: Mapping[str, pl.DataType],
    batch_size: int,
    *,
    strict: bool = True,
) -> pl.DataFrame:
    """``columns`` of every row as one table, read in batches of ``batch_size`` rows."""
    parts = []
    with store.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(
            select(*columns)
        )
        for part in result.partitions(batch_size):
            parts.append(
                pl.DataFrame(
                    [tuple(r) for r in part], schema=frame_schema, orient="row", strict=strict
                )
            )
    return pl.concat(parts) if parts else pl.DataFrame(schema=frame_schema)


def record_written(
    conn: Connection,
    store: StateStore,
    values_by_account: dict[str, dict[str, Any]],
    *,
    run_id: int,
) -> None:
    """Remember what was written, and make the snapshot hold it too (the CRM now does)."""
    if not values_by_account:
        return
    now = datetime.now(UTC)
    groups: dict[tuple[str, ...], list[str]] = {}
    for account_id, values in values_by_account.items():
        groups.setdefault(tuple(sorted(values)), []).append(account_id)
    snap = schema.account_snapshot
    for names, account_ids in groups.items():
        update = (
            snap.update()
            .where(snap.c.id == _bind("account_id"))
            .values({n: _bind(n) for n in names})
        )
        # Rows are built a slice at a time: a 50,000-account first write-back would otherwise
        # hold two copies of every written value at once.
        for start in range(0, len(account_ids), WRITE_RECORD_BATCH):
            rows = [
                {"account_id": a, **values_by_account[a]}
                for a in account_ids[start : start + WRITE_RECORD_BATCH]
            ]
            written_rows = [r | {"written_at": now, "run_id": run_id} for r in rows]
            conn.execute(
                store.upsert_statement(schema.written_value, written_rows, ("account_id",)),
                written_rows,
            )
            conn.execute(update, [{"b_" + k: v for k, v in r.items()} for r in rows])


def record_pending(
    conn: Connection,
    store: StateStore,
    values_by_account: dict[str, dict[str, Any]],
    *,
    run_id: int,
) -> None:
    """Write-ahead: the values about to be pushed, by account and field.

    Fields pending from an earlier push and not sent now stay pending. ``kam_last_assessed`` is
    left out: it is sent with every write and never compared.
    """
    now = datetime.now(UTC)
    for names, account_ids in _by_field_set(values_by_account).items():
        for start in range(0, len(account_ids), WRITE_RECORD_BATCH):
            rows = [
                {
                    "account_id": a,
                    **{n: values_by_account[a][n] for n in names},
                    **{f"sent_{n}": True for n in names},
                    "run_id": run_id,
                    "recorded_at": now,
                }
                for a in account_ids[start : start + WRITE_RECORD_BATCH]
            ]
            conn.execute(store.upsert_statement(schema.pending_write, rows, ("account_id",)), rows)


def load_pending(store: StateStore, batch_size: int = 2_000) -> pl.DataFrame:
    """Pending values by account: each compared KAM field's value, and ``sent_<field>`` (true
    where a value for that field is pending, which may be a null: a clear)."""
    table = schema.pending_write
    columns = [table.c[name] for name in PENDING_SCHEMA]
    return _streamed(store, columns, PENDING_SCHEMA, batch_size, strict=False)


def clear_pending(conn: Connection, fields_by_account: Mapping[str, Iterable[str]]) -> None:
    """The values of these fields, by account, are known now (recorded as written, or
    adopted): no longer pending.

    An account with nothing else pending loses its row; one with other fields still pending
    keeps them. The table holds little but the chunk in flight, so it is read whole. The
    accounts' fields are looked up row by row, never copied: after a 50,000-account first
    write-back a copy as (account, field) pairs cost about 25 MiB at the run's peak.
    """
    table = schema.pending_write
    if not fields_by_account:
        return
    sent = [table.c[f"sent_{n}"] for n in PENDING_FIELDS]
    gone: list[str] = []
    keep: dict[str, dict[str, Any]] = {}
    for row in conn.execute(select(table.c.account_id, *sent)):
        known = fields_by_account.get(row[0])
        if known is None:
            continue
        names = {n for n in known if n in PENDING_FIELDS}
        if not names:
            continue
        still = {n for n, flag in zip(PENDING_FIELDS, row[1:], strict=True) if flag} - names
        if still:
            keep[row[0]] = dict.fromkeys(names)
        else:
            gone.append(row[0])
    delete = table.delete().where(table.c.account_id == bindparam("a"))
    for start in range(0, len(gone), WRITE_RECORD_BATCH):
        conn.execute(delete, [{"a": a} for a in gone[start : start + WRITE_RECORD_BATCH]])
    for fields, account_ids in _by_field_set(keep).items():
        update = (
            table.update()
            .where(table.c.account_id == bindparam("a"))
            .values({n: None for n in fields} | {f"sent_{n}": False for n in fields})
        )
        conn.execute(update, [{"a": a} for a in account_ids])


def _by_field_set(values_by_account: dict[str, dict[str, Any]]) -> dict[tuple[str, ...], list[str]]:
    """Account ids grouped by the compared fields they hold (one statement per group)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for account_id, values in values_by_account.items():
        names = tuple(sorted(n for n in values if n in PENDING_FIELDS))
        if names:
            groups.setdefault(names, []).append(account_id)
    return groups


def forget_accounts(conn: Connection, account_ids: Sequence[str]) -> None:
    """Accounts gone from the CRM (deleted): nothing can be written to them any more, so what
    kam-sync wrote, was about to write or has queued for them is dropped."""
    params = [{"a": a} for a in account_ids]
    for table in (schema.written_value, schema.pending_write, schema.retry_queue):
        for start in range(0, len(params), WRITE_RECORD_BATCH):
            conn.execute(
                table.delete().where(table.c.account_id == bindparam("a")),
                params[start : start + WRITE_RECORD_BATCH],
            )


def _bind(name: str) -> Any:
    return bindparam("b_" + name)


@dataclass(frozen=True, slots=True)
class RetryItem:
    account_id: str
    field: str
    value: Any
    attempts: int
    last_error_code: str | None
    last_error: str | None
    first_failed_at: datetime
    dead: bool


def record_failures(
    conn: Connection,
    store: StateStore,
    failures: Sequence[tuple[str, str, Any, str | None, str | None]],
    *,
    run_id: int,
    retry_limit: int,
) -> None:
    """Queue failed writes ``(account, field, canonical value, error code, message)``.

    After ``retry_limit`` failed runs an item becomes a dead letter: listed by `status`, not
    tried again until its desired value changes.
    """
    if not failures:
        return
    table = schema.retry_queue
    # The whole queue is read rather than an IN list of the failed accounts: a failed bulk job
    # fails 50,000 accounts at once, more than a statement may bind.
    existing = {
        (r.account_id, r.field): r.attempts
        for r in conn.execute(select(table.c.account_id, table.c.field, table.c.attempts))
    }
    now = datetime.now(UTC)
    rows = []
    for account_id, name, value, code, message in failures:
        attempts = existing.get((account_id, name), 0) + 1
        rows.append(
            {
                "account_id": account_id,
                "field": name,
                "value": _jsonable(value),
                "attempts": attempts,
                "last_error_code": code,
                "last_error": message,
                "first_failed_at": now,
                "last_run_id": run_id,
                "dead": attempts >= retry_limit,
            }
        )
    stmt = store.upsert_statement(table, rows, ("account_id", "field"), keep=("first_failed_at",))
    conn.execute(stmt, rows)


def clear_retries(conn: Connection, pairs: Iterable[tuple[str, str]]) -> None:
    """Written successfully: leave the retry queue.

    The queue is small (failures only) while a first write-back succeeds for every account:
    only the pairs the queue holds are deleted, with one statement for all of them. ``pairs``
    is read once, so it may be a generator.
    """
    table = schema.retry_queue
    queued = {
        (r.account_id, r.field) for r in conn.execute(select(table.c.account_id, table.c.field))
    }
    if not queued:
        return
    gone = [{"a": a, "f": f} for a, f in pairs if (a, f) in queued]
    if gone:
        conn.execute(
            table.delete().where(
                table.c.account_id == bindparam("a"), table.c.field == bindparam("f")
            ),
            gone,
        )


def retry_items(store: StateStore) -> list[RetryItem]:
    table = schema.retry_queue
    with store.engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.account_id, table.c.field)).mappings()
        return [
            RetryItem(
                account_id=r["account_id"],
                field=r["field"],
                value=r["value"],
                attempts=r["attempts"],
                last_error_code=r["last_error_code"],
                last_error=r["last_error"],
                first_failed_at=r["first_failed_at"],
                dead=r["dead"],
            )
            for r in rows
        ]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value
