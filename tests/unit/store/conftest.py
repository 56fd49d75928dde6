"""Store fixtures: a SQLite file store and, when a server is reachable, a fresh PostgreSQL database.

PostgreSQL comes from KAM_SYNC_TEST_POSTGRES_URL (`.ci/run` starts a server and sets it). Without
it, or when the server cannot be reached, the PostgreSQL variants are skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_ENV = "KAM_SYNC_TEST_POSTGRES_URL"


def _postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_ENV)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL on an empty database, for each supported backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'kam-sync.sqlite'}"
        return
    admin = _postgres_admin_url()
    if not admin:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (set by .ci/run, which starts a server)")
    admin_url = make_url(admin).set(drivername="postgresql+psycopg")
    name = f"kam_test_{uuid.uuid4().hex[:12]}"
    try:
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server is down or refuses us: say why, do not fail
        pytest.skip(
            f"PostgreSQL at {admin_url.render_as_string(hide_password=True)} unusable: {exc}"
        )
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
