"""Ordered schema migrations, run when a store is opened.

The version lives in ``kam_sync_schema``. Migration N creates what schema step N declares
(``schema.SCHEMA_STEPS[N-1]``), inside one transaction with the version bump, so a crash leaves
the store at N-1 or N, never between.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Connection, Integer, MetaData, Table, Text, select

from kam_sync.store.schema import SCHEMA_STEPS
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
        conn.execute(
            schema_version.insert().values(
                version=version,
                description=(step.__doc__ or step.__name__).strip().splitlines()[0],
                applied_at=datetime.now(UTC),
            )
        )
        applied.append(version)
    return applied
