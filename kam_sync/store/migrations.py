"""Ordered schema migrations, run when a store is opened.

The version lives in ``kam_sync_schema``. Migration N creates what schema step N declares
(``schema.SCHEMA_STEPS[N-1]``), inside one transaction with the version bump, so a crash leaves
the store at N-1 or N, never between.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    Table,
    Text,
    inspect,
    select,
    text,
)
from sqlalchemy.schema import DropIndex

from kam_sync.store.schema import (
    ADDED_COLUMNS,
    MONEY_CONVERSIONS,
    SCHEMA_STEPS,
    metadata,
    run,
    v3_tables,
)
from kam_sync.store.types import UTCDateTime

LATEST_VERSION = len(SCHEMA_STEPS)

_version_md = MetaData()
schema_version = Table(
    "kam_sync_schema",
    _version_md,
    Column("version", Integer, primary_key=True),
    Column("description", Text, nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)


def current_version(conn: Connection) -> int:
    """The store's schema version; 0 for an empty database."""
    if not conn.dialect.has_table(conn, schema_version.name):
        return 0
    value = conn.execute(
        select(schema_version.c.version).order_by(schema_version.c.version.desc())
    ).first()
    return int(value[0]) if value else 0


def migrate(conn: Connection, target: int = LATEST_VERSION) -> list[int]:
    """Bring the store up to ``target``; returns the versions applied. Caller owns the transaction."""
    schema_version.create(conn, checkfirst=True)
    start = current_version(conn)
    if start > LATEST_VERSION:
        from kam_sync.errors import StoreError

        raise StoreError(
            f"the state store is at schema version {start}, newer than this kam-sync "
            f"understands ({LATEST_VERSION}); upgrade kam-sync"
        )
    applied = []
    for version in range(start + 1, target + 1):
        step = SCHEMA_STEPS[version - 1]
        md = MetaData()
        for table in step(md):
            table.create(conn)
        for table_name, columns in ADDED_COLUMNS.get(step, {}).items():
            _add_columns(conn, table_name, columns)
        for table_name, columns in MONEY_CONVERSIONS.get(step, {}).items():
            _convert_cents_to_money(conn, table_name, columns)
        if step is v3_tables:  # the step that came with safe error texts
            _scrub_failed_run_errors(conn)
        conn.execute(
            schema_version.insert().values(
                version=version,
                description=(step.__doc__ or step.__name__).strip().splitlines()[0],
                applied_at=datetime.now(UTC),
            )
        )
        applied.append(version)
    return applied


def _add_columns(conn: Connection, table_name: str, columns: tuple[str, ...]) -> None:
    """Add the declared ``columns`` an older store's table lacks (nullable, so every row stays)."""
    present = {c["name"] for c in inspect(conn).get_columns(table_name)}
    table = metadata.tables[table_name]
    for name in columns:
        if name in present:
            continue
        column = table.c[name]
        kind = column.type.compile(dialect=conn.dialect)
        conn.execute(text(f"ALTER TABLE {table_name} ADD COLUMN {name} {kind}"))


def _convert_cents_to_money(conn: Connection, table_name: str, columns: tuple[str, ...]) -> None:
    """Integer cents become exact decimal amounts, every row kept.

    PostgreSQL changes the column type in place. SQLite cannot, and would turn decimal text in
    an INTEGER column into a float, so the table is rebuilt from its current declaration.
    """
    table = metadata.tables[table_name]
    # Stores created by this version already declare the money columns exactly.
    types = {c["name"]: c["type"] for c in inspect(conn).get_columns(table_name)}
    columns = tuple(c for c in columns if isinstance(types.get(c), Integer))
    if not columns:
        return
    if conn.dialect.name == "postgresql":
        for column in columns:
            conn.execute(
                text(
                    f"ALTER TABLE {table_name} ALTER COLUMN {column} TYPE NUMERIC(38, 2) "
                    f"USING {column}::numeric * 0.01"  # exact: division would round big ones
                )
            )
        return
    old_name = f"{table_name}_with_cents"
    for index in table.indexes:
        conn.execute(DropIndex(index, if_exists=True))  # index names are global in SQLite
    conn.execute(text(f"ALTER TABLE {table_name} RENAME TO {old_name}"))
    table.create(conn)
    names = [c.name for c in table.columns]
    selected = [
        (
            # exact in integer arithmetic: sign, whole units, two digits of cents
            f"CASE WHEN {n} IS NULL THEN NULL ELSE "
            f"(CASE WHEN {n} < 0 THEN '-' ELSE '' END) || CAST(abs({n}) / 100 AS TEXT) || '.' "
            f"|| substr('0' || CAST(abs({n}) % 100 AS TEXT), -2) END"
        )
        if n in columns
        else n
        for n in names
    ]
    conn.execute(
        text(
            f"INSERT INTO {table_name} ({', '.join(names)}) "
            f"SELECT {', '.join(selected)} FROM {old_name}"
        )
    )
    conn.execute(text(f"DROP TABLE {old_name}"))


def _scrub_failed_run_errors(conn: Connection) -> None:
    """Earlier versions kept the full text of an unexpected error in the ledger, which for a
    database error held the SQL parameters: CRM record values. Keep that they failed, not why."""
    conn.execute(
        run.update()
        .where(run.c.status == "failed", run.c.error.is_not(None))
        .values(error="error text removed on upgrade (it could hold CRM record values)")
    )
