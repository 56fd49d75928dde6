"""Money in the store is exact at any size a CRM allows, and stores from earlier versions (integer
cents) are converted keeping every row."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.schema import CreateIndex, CreateTable

from kam_sync.engine.frames import load_snapshot
from kam_sync.store import open_store
from kam_sync.store.migrations import migrate
from kam_sync.store.schema import metadata
from kam_sync.store.store import resolve_url

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# The largest Salesforce Currency(18, 0) value, and the widest amount kam-sync keeps.
HUGE = Decimal("999999999999999999")
WIDEST = Decimal("999999999999999999999999.99")


def _opportunity(i: int, amount: Decimal | None) -> dict[str, object]:
    return {
        "id": f"O{i}",
        "account_id": "A1",
        "amount": amount,
        "modified_at": T0,
        "is_deleted": False,
    }


def test_amounts_beyond_int64_cents_are_stored_and_read_back_exactly(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url, tmp_path)
    amounts = [HUGE, -HUGE, WIDEST, Decimal("0.1"), Decimal("-0.004"), None]
    store.upsert_snapshot("opportunity", [_opportunity(i, a) for i, a in enumerate(amounts)])

    assert [store.get_record("opportunity", f"O{i}")["amount"] for i in range(6)] == [  # type: ignore[index]
        HUGE,
        -HUGE,
        WIDEST,
        Decimal("0.10"),
        Decimal("0.00"),
        None,
    ]
    frame = load_snapshot(store, "opportunity", columns=("id", "amount"))
    assert frame["amount"].to_list() == [HUGE, -HUGE, WIDEST, Decimal("0.1"), Decimal("0"), None]
    store.close()


def _store_with_integer_cents(store_url: str, tmp_path: Path) -> None:
    """A store as kam-sync 0.x left it: schema version 2, money as BIGINT cents."""
    engine = create_engine(resolve_url(store_url, tmp_path))
    if engine.dialect.name == "sqlite":
        Path(engine.url.database or "").parent.mkdir(parents=True, exist_ok=True)
    with engine.begin() as conn:
        migrate(conn, target=2)
        for name, column in (
            ("account_snapshot", "annual_revenue"),
            ("opportunity_snapshot", "amount"),
        ):
            table = metadata.tables[name]
            ddl = str(CreateTable(table).compile(dialect=engine.dialect))
            money_type = "TEXT" if engine.dialect.name == "sqlite" else "NUMERIC(38, 2)"
            assert f"{column} {money_type}" in ddl
            conn.execute(text(f"DROP TABLE {name}"))
            conn.execute(text(ddl.replace(f"{column} {money_type}", f"{column} BIGINT")))
            for index in table.indexes:
                conn.execute(CreateIndex(index))
        for i, cents in enumerate([123456, -5, None, 9_223_372_036_854_775_807, 0, -100]):
            conn.execute(
                text(
                    "INSERT INTO opportunity_snapshot (id, account_id, amount, modified_at, "
                    "is_deleted, snapshot_at) VALUES (:id, 'A1', :cents, :t, false, :t)"
                ),
                {"id": f"O{i}", "cents": cents, "t": T0.replace(tzinfo=None)},
            )
        conn.execute(
            text(
                "INSERT INTO watermark (object_name, value, updated_at) VALUES ('opportunity', :t, :t)"
            ),
            {"t": T0.replace(tzinfo=None)},
        )
    engine.dispose()


def test_a_store_with_integer_cents_is_converted_keeping_every_amount(
    store_url: str, tmp_path: Path
) -> None:
    _store_with_integer_cents(store_url, tmp_path)

    store = open_store(store_url, tmp_path)

    amounts = [store.get_record("opportunity", f"O{i}")["amount"] for i in range(6)]  # type: ignore[index]
    assert amounts == [
        Decimal("1234.56"),
        Decimal("-0.05"),
        None,
        Decimal("92233720368547758.07"),
        Decimal("0.00"),
        Decimal("-1.00"),
    ]
    assert store.watermark("opportunity") == T0, "the snapshot is kept: no full pull needed"
    store.upsert_snapshot("opportunity", [_opportunity(9, HUGE)])
    assert store.get_record("opportunity", "O9")["amount"] == HUGE  # type: ignore[index]
    store.close()


def test_failed_runs_of_earlier_versions_lose_their_error_text_on_upgrade(
    store_url: str, tmp_path: Path
) -> None:
    _store_with_integer_cents(store_url, tmp_path)
    engine = create_engine(resolve_url(store_url, tmp_path))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO run (started_at, as_of, mode, status, error) "
                "VALUES (:t, :t, 'run', 'failed', :e)"
            ),
            {"t": T0.replace(tzinfo=None), "e": "IntegrityError: ... ('Acme renewal', 120000)"},
        )
    engine.dispose()

    store = open_store(store_url, tmp_path)

    (failed,) = store.runs()
    assert failed["status"] == "failed"
    assert "Acme" not in failed["error"] and "120000" not in failed["error"]
    store.close()
