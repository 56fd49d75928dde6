"""The state store API. SQLite in the project folder by default; PostgreSQL by URL, same code.

All writes happen in transactions: a run killed at any point leaves the store as it was before
the interrupted transaction.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from kam_sync.config.project import STORE_PASSWORD_ENV
from kam_sync.config.secret_lookup import secret_lookup
from kam_sync.errors import StoreError
from kam_sync.store import schema
from kam_sync.store.migrations import LATEST_VERSION, current_version, migrate


def resolve_url(url: str, project_root: Path, environ: dict[str, str] | None = None) -> URL:
    """The SQLAlchemy URL: relative SQLite paths under the project; the password from the env."""
    env = os.environ if environ is None else environ
    parsed = make_url(url)
    if parsed.drivername == "sqlite":
        db = Path(parsed.database or "")
        if not db.is_absolute():
            db = project_root / db
        return parsed.set(database=str(db))
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    # The variable when set, else its keyring entry (service kam-sync), as for CRM secrets.
    password = secret_lookup(env).get(STORE_PASSWORD_ENV)
    if password:
        parsed = parsed.set(password=password)
    return parsed


def open_store(url: str, project_root: Path, environ: dict[str, str] | None = None) -> StateStore:
    """Open (and create or migrate) the store named by ``url``."""
    resolved = resolve_url(url, project_root, environ)
    if resolved.drivername == "sqlite" and resolved.database:
        Path(resolved.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(resolved, future=True, pool_pre_ping=resolved.drivername != "sqlite")
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(f"cannot open the state store {_safe(resolved)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    store = StateStore(engine)
    store.migrate()
    return store


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets `kam-sync status` read while a run writes; NORMAL sync is durable in WAL mode
    # against process crashes, which is what "killed at any point" needs.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


@dataclass(frozen=True, slots=True)
class QuarantinedRecord:
    object_name: str
    record_id: str
    field: str | None
    reason: str
    run_id: int
    quarantined_at: datetime


class StateStore:
    """Snapshots, watermarks, the run ledger and the audit tables of one project."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def description(self) -> str:
        return _safe(self.engine.url)

    def migrate(self) -> list[int]:
        try:
            with self.engine.begin() as conn:
                return migrate(conn)
        except OperationalError as exc:
            raise StoreError(
                f"cannot open the state store {self.description}: {exc.orig}"
            ) from None

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return current_version(conn)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    # snapshots -------------------------------------------------------------------------------

    def upsert_snapshot(
        self, object_name: str, records: Sequence[dict[str, Any]], *, conn: Connection | None = None
    ) -> int:
        """Insert or replace canonical records by id; returns how many were written.

        A record given twice (a CRM page can repeat one) counts once, its latest version
        (``modified_at``, then the later in ``records``). A deleted record only marks the stored
        row deleted: CRMs drop the relations of deleted records (HubSpot returns no
        associations for an archived deal), so it may lack fields the live table requires.
        """
        if not records:
            return 0
        table = _snapshot_table(object_name)
        now = datetime.now(UTC)
        columns = {c.name for c in table.columns}
        latest: dict[str, dict[str, Any]] = {}
        for r in records:
            kept = latest.get(r["id"])
            if kept is None or _modified(r) >= _modified(kept):
                latest[r["id"]] = r
        live = [r for r in latest.values() if not r.get("is_deleted")]
        deleted = [r for r in latest.values() if r.get("is_deleted")]
        rows = [{k: v for k, v in r.items() if k in columns} | {"snapshot_at": now} for r in live]
        with self._connection(conn) as c:
            if rows:
                c.execute(self.upsert_statement(table, rows, ("id",)), rows)
            # One statement for the page's deletions (a full pull brings every deleted record
            # of the recycle bin); a record without a stamp keeps the stored one.
            if deleted:
                c.execute(
                    table.update()
                    .where(table.c.id == bindparam("b_id"))
                    .values(
                        is_deleted=True,
                        snapshot_at=now,
                        modified_at=func.coalesce(
                            bindparam("b_modified_at", type_=table.c.modified_at.type),
                            table.c.modified_at,
                        ),
                    ),
                    [{"b_id": r["id"], "b_modified_at": r.get("modified_at")} for r in deleted],
                )
        return len(rows) + len(deleted)

    @contextmanager
    def _connection(self, conn: Connection | None) -> Iterator[Connection]:
        """``conn``, or a transaction of its own."""
        if conn is not None:
            yield conn
        else:
            with self.engine.begin() as own:
                yield own

    def upsert_statement(
        self,
        table: Any,
        rows: list[dict[str, Any]],
        keys: tuple[str, ...],
        *,
        keep: tuple[str, ...] = (),
    ) -> Any:
        """INSERT ... ON CONFLICT (keys) DO UPDATE of the columns in ``rows`` except ``keep``."""
        insert = self.insert_statement(table)
        update_cols = {c: insert.excluded[c] for c in rows[0] if c not in keys and c not in keep}
        return insert.on_conflict_do_update(index_elements=list(keys), set_=update_cols)

    def insert_statement(self, table: Any) -> Any:
        """The dialect's INSERT (it has ``on_conflict_do_update`` / ``_do_nothing``)."""
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def count(self, object_name: str, *, include_deleted: bool = False) -> int:
        table = _snapshot_table(object_name)
        query = select(func.count()).select_from(table)
        if not include_deleted:
            query = query.where(table.c.is_deleted.is_(False))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def get_record(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        """One record of the snapshot by id (deleted or not), or None."""
        table = _snapshot_table(object_name)
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.id == record_id)).mappings().first()
        return dict(row) if row is not None else None

    def iter_snapshot(
        self, object_name: str, *, batch_size: int = 10_000
    ) -> Iterator[list[dict[str, Any]]]:
        """The live (not deleted) records in batches, ordered by id."""
        table = _snapshot_table(object_name)
        query = select(table).where(table.c.is_deleted.is_(False)).order_by(table.c.id)
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(
                query
            )
            for part in result.mappings().partitions(batch_size):
                yield [dict(row) for row in part]

    # watermarks ------------------------------------------------------------------------------

    def watermark(self, object_name: str) -> datetime | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(schema.watermark.c.value).where(
                    schema.watermark.c.object_name == object_name
                )
            ).scalar_one_or_none()
        return value

    def set_watermark(
        self, object_name: str, value: datetime, *, conn: Connection | None = None
    ) -> None:
        """Advance (never move back) the watermark of one object.

        The check is part of the statement (an upsert that updates only to a later value), so it
        holds inside the caller's transaction and against a concurrent writer alike.
        """
        row = {"object_name": object_name, "value": value, "updated_at": datetime.now(UTC)}
        table = schema.watermark
        insert = self.insert_statement(table)
        stmt = insert.on_conflict_do_update(
            index_elements=["object_name"],
            set_={"value": insert.excluded.value, "updated_at": insert.excluded.updated_at},
            where=table.c.value < insert.excluded.value,
        )
        if conn is not None:
            conn.execute(stmt, [row])
        else:
            with self.engine.begin() as own:
                own.execute(stmt, [row])

    # the run ledger --------------------------------------------------------------------------

    def begin_run(self, *, as_of: datetime, mode: str) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                schema.run.insert().values(
                    started_at=datetime.now(UTC), as_of=as_of, mode=mode, status="running"
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def abandon_unfinished_runs(self) -> int:
        """Mark runs still 'running' as 'abandoned' (their process died, e.g. kill -9).

        Only call while holding the store's run lock (``kam_sync.store.run_lock``), and begin
        every run under it: then a run still marked running is not in progress anywhere.
        """
        with self.engine.begin() as conn:
            result = conn.execute(
                schema.run.update()
                .where(schema.run.c.status == "running")
                .values(status="abandoned", error="the process ended before the run finished")
            )
            return int(result.rowcount or 0)

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        counts: dict[str, Any] | None = None,
        api_calls: dict[str, int] | None = None,
        alerts: list[dict[str, Any]] | None = None,
        error: str | None = None,
        exit_code: int | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                schema.run.update()
                .where(schema.run.c.id == run_id)
                .values(
                    finished_at=datetime.now(UTC),
                    status=status,
                    counts=counts,
                    api_calls=api_calls,
                    alerts=alerts,
                    error=error,
                    exit_code=exit_code,
                )
            )

    def record_run_calls(self, run_id: int, api_calls: dict[str, int]) -> None:
        """Replace a finished run's API call counts (calls made after it was recorded)."""
        with self.engine.begin() as conn:
            conn.execute(
                schema.run.update().where(schema.run.c.id == run_id).values(api_calls=api_calls)
            )

    def runs(self, limit: int | None = 10, *, mode: str | None = None) -> list[dict[str, Any]]:
        """The latest ``limit`` ledger entries (all with None), newest first; ``mode``: run or plan."""
        query = select(schema.run).order_by(schema.run.c.id.desc()).limit(limit)
        if mode is not None:
            query = query.where(schema.run.c.mode == mode)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def run_count(self) -> int:
        """How many entries the run ledger holds."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(schema.run)).scalar_one())

    # quarantine ------------------------------------------------------------------------------

    def quarantine(
        self,
        items: Iterable[tuple[str, str, str | None, str]],
        *,
        run_id: int,
        conn: Connection | None = None,
    ) -> int:
        """Set records aside: ``(object_name, record_id, field, reason)``; replaces older entries."""
        now = datetime.now(UTC)
        rows = [
            {
                "object_name": obj,
                "record_id": rid,
                "field": field,
                "reason": reason,
                "run_id": run_id,
                "quarantined_at": now,
            }
            for obj, rid, field, reason in items
        ]
        # One entry per record, the last reason given: a statement may not touch a key twice.
        rows = list({(r["object_name"], r["record_id"]): r for r in rows}.values())
        if not rows:
            return 0
        stmt = self.upsert_statement(schema.quarantine, rows, ("object_name", "record_id"))
        if conn is None:
            with self.engine.begin() as own:
                own.execute(stmt, rows)
        else:
            conn.execute(stmt, rows)
        return len(rows)

    def live_ids(self, object_name: str, *, conn: Connection | None = None) -> set[str]:
        """The ids of the stored records not flagged deleted."""
        table = _snapshot_table(object_name)
        query = select(table.c.id).where(table.c.is_deleted.is_(False))
        if conn is not None:
            return {str(i) for i in conn.execute(query).scalars()}
        with self.engine.connect() as own:
            return {str(i) for i in own.execute(query).scalars()}

    def mark_deleted(
        self, object_name: str, record_ids: Sequence[str], *, conn: Connection | None = None
    ) -> None:
        """Flag stored records deleted by id alone (a CRM's delete log names only the id).

        Ids never stored are left alone: there is nothing of theirs to take out of scope.
        """
        if not record_ids:
            return
        table = _snapshot_table(object_name)
        stmt = (
            table.update()
            .where(table.c.id.in_(list(record_ids)))
            .values(is_deleted=True, snapshot_at=datetime.now(UTC))
        )
        if conn is None:
            with self.engine.begin() as own:
                own.execute(stmt)
        else:
            conn.execute(stmt)

    def release_quarantine(
        self, object_name: str, record_ids: Sequence[str], *, conn: Connection | None = None
    ) -> None:
        """Records that normalized cleanly again leave the quarantine."""
        if not record_ids:
            return
        q = schema.quarantine
        stmt = q.delete().where(q.c.object_name == object_name, q.c.record_id.in_(list(record_ids)))
        if conn is None:
            with self.engine.begin() as own:
                own.execute(stmt)
        else:
            conn.execute(stmt)

    def quarantined(self) -> list[QuarantinedRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.quarantine).order_by(schema.quarantine.c.record_id))
            return [QuarantinedRecord(**dict(r)) for r in rows.mappings()]


def _modified(record: dict[str, Any]) -> datetime:
    value = record.get("modified_at")
    return value if isinstance(value, datetime) else datetime.min.replace(tzinfo=UTC)


def _snapshot_table(object_name: str) -> Any:
    if object_name == "account":
        return schema.account_snapshot
    if object_name == "opportunity":
        return schema.opportunity_snapshot
    raise ValueError(f"unknown canonical object '{object_name}'")


__all__ = ["LATEST_VERSION", "QuarantinedRecord", "StateStore", "open_store", "resolve_url"]
