"""The state store on SQLite and PostgreSQL: migrations, snapshots, watermarks, ledger, quarantine."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from kam_sync.errors import StoreError
from kam_sync.store import open_store
from kam_sync.store.migrations import LATEST_VERSION, current_version, migrate
from kam_sync.store.schema import metadata

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _account(i: int, **extra: object) -> dict[str, object]:
    return {
        "id": f"A{i:04d}",
        "name": f"Account {i}",
        "modified_at": T0 + timedelta(minutes=i),
        "is_deleted": False,
        **extra,
    }


def test_an_empty_store_is_migrated_to_the_latest_version(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, tmp_path)
    assert store.schema_version() == LATEST_VERSION
    tables = set(inspect(store.engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert store.migrate() == []  # opening again applies nothing
    store.close()


@pytest.mark.parametrize("start_version", range(1, LATEST_VERSION))
def test_a_store_at_an_earlier_version_is_migrated_keeping_its_data(
    store_url: str, tmp_path: Path, start_version: int
) -> None:
    from kam_sync.store.store import resolve_url

    engine = create_engine(resolve_url(store_url, tmp_path))
    if engine.dialect.name == "sqlite":
        Path(engine.url.database or "").parent.mkdir(parents=True, exist_ok=True)
    with engine.begin() as conn:
        assert migrate(conn, target=start_version) == list(range(1, start_version + 1))
        conn.execute(
            metadata.tables["watermark"]
            .insert()
            .values(object_name="account", value=T0, updated_at=T0)
        )
    engine.dispose()

    store = open_store(store_url, tmp_path)
    assert store.schema_version() == LATEST_VERSION
    assert store.watermark("account") == T0
    store.close()


def test_a_store_newer_than_the_code_is_refused(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, tmp_path)
    from kam_sync.store.migrations import schema_version

    with store.engine.begin() as conn:
        conn.execute(
            schema_version.insert().values(
                version=LATEST_VERSION + 1, description="future", applied_at=T0
            )
        )
    store.close()
    with pytest.raises(StoreError, match="newer than this kam-sync understands"):
        open_store(store_url, tmp_path)


def test_snapshot_upsert_keeps_money_exact_and_datetimes_aware(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url, tmp_path)
    store.upsert_snapshot(
        "account",
        [
            _account(
                1,
                annual_revenue=Decimal("1234567.89"),
                team_roles=["innovator"],
                last_review_date=date(2026, 1, 2),
            )
        ],
    )
    store.upsert_snapshot("account", [_account(1, annual_revenue=Decimal("10.10"), name="Renamed")])
    [batch] = list(store.iter_snapshot("account"))
    [row] = batch
    assert row["name"] == "Renamed"
    assert row["annual_revenue"] == Decimal("10.10")
    assert isinstance(row["annual_revenue"], Decimal)
    assert row["modified_at"] == T0 + timedelta(minutes=1)
    assert row["modified_at"].tzinfo is not None
    store.close()


def test_deleted_records_leave_the_live_snapshot(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, tmp_path)
    store.upsert_snapshot("account", [_account(i) for i in range(5)])
    store.upsert_snapshot("account", [_account(2, is_deleted=True)])
    assert store.count("account") == 4
    assert store.count("account", include_deleted=True) == 5
    ids = [r["id"] for batch in store.iter_snapshot("account", batch_size=2) for r in batch]
    assert ids == ["A0000", "A0001", "A0003", "A0004"]
    store.close()


def test_watermarks_only_move_forward(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, tmp_path)
    assert store.watermark("account") is None
    store.set_watermark("account", T0 + timedelta(hours=2))
    store.set_watermark("account", T0)  # an older value never moves it back
    assert store.watermark("account") == T0 + timedelta(hours=2)
    store.close()


def test_the_run_ledger_records_status_counts_and_api_calls(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, tmp_path)
    run_id = store.begin_run(as_of=T0, mode="run")
    store.finish_run(run_id, status="ok", counts={"pulled": 10}, api_calls={"query": 3})
    [last] = store.runs(limit=1)
    assert last["id"] == run_id
    assert last["status"] == "ok"
    assert last["counts"] == {"pulled": 10}
    assert last["api_calls"] == {"query": 3}
    assert last["finished_at"] >= last["started_at"]
    store.close()


def test_quarantine_keeps_one_entry_per_record_and_releases_it(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url, tmp_path)
    store.quarantine([("account", "A1", "employees", "expected a whole number")], run_id=1)
    store.quarantine(
        [("account", "A1", "modified_at", "required"), ("opportunity", "O1", None, "x")], run_id=2
    )
    entries = {(q.object_name, q.record_id): q for q in store.quarantined()}
    assert entries[("account", "A1")].reason == "required"
    assert entries[("account", "A1")].run_id == 2
    store.release_quarantine("account", ["A1"])
    assert [(q.object_name, q.record_id) for q in store.quarantined()] == [("opportunity", "O1")]
    store.close()


def test_a_naive_datetime_is_refused_by_the_store(tmp_path: Path) -> None:
    store = open_store("sqlite:///state.sqlite", tmp_path)
    with pytest.raises(Exception, match="naive datetime"):
        store.set_watermark("account", datetime(2026, 1, 1))
    store.close()


def test_sqlite_store_uses_wal_and_lives_in_the_project_folder(tmp_path: Path) -> None:
    store = open_store("sqlite:///state/kam-sync.sqlite", tmp_path)
    assert (tmp_path / "state" / "kam-sync.sqlite").exists()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert current_version(conn) == LATEST_VERSION
    store.close()


def test_the_fast_snapshot_loader_gives_the_same_table_as_typed_rows(
    store_url: str, tmp_path: Path
) -> None:
    import polars as pl

    from kam_sync.canonical import ACCOUNT_FIELDS, OPPORTUNITY_FIELDS
    from kam_sync.engine.frames import SCHEMAS, load_snapshot

    def frame_from_records(records: list[dict[str, object]], name: str) -> pl.DataFrame:
        schema = SCHEMAS[name]
        return pl.DataFrame(
            [{k: r.get(k) for k in schema} for r in records], schema=schema, orient="row"
        )

    store = open_store(store_url, tmp_path)
    base = dict.fromkeys(ACCOUNT_FIELDS)
    store.upsert_snapshot(
        "account",
        [
            base
            | _account(
                1,
                annual_revenue=Decimal("1234567.89"),
                team_roles=["innovator", "collaborator"],
                last_review_date=date(2026, 1, 2),
                public_company=True,
                employees=12,
                kam_score=55.25,
                kam_flags=["over_cap"],
                kam_last_assessed=T0,
            ),
            base | _account(2),
            base | _account(3, is_deleted=True),
        ],
    )
    opp = dict.fromkeys(OPPORTUNITY_FIELDS) | {
        "id": "O1",
        "account_id": "A0001",
        "amount": Decimal("-10.05"),
        "close_date": date(2026, 3, 31),
        "modified_at": T0,
        "is_deleted": False,
    }
    store.upsert_snapshot("opportunity", [opp])
    for name in ("account", "opportunity"):
        fast = load_snapshot(store, name)
        typed = frame_from_records([r for batch in store.iter_snapshot(name) for r in batch], name)
        assert fast.equals(typed), name
    assert load_snapshot(store, "account")["id"].to_list() == ["A0001", "A0002"]
    store.close()


def test_one_snapshot_record_is_read_by_id(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, tmp_path)
    store.upsert_snapshot("account", [_account(1), _account(2)])
    record = store.get_record("account", "A0002")
    assert record is not None and record["name"] == "Account 2"
    assert store.get_record("account", "NOPE") is None
    store.close()


def test_a_run_that_died_is_marked_abandoned(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, tmp_path)
    dead = store.begin_run(as_of=T0, mode="run")
    assert store.abandon_unfinished_runs() == 1
    [last] = store.runs(limit=1)
    assert (last["id"], last["status"]) == (dead, "abandoned")
    store.close()


def test_the_retry_queue_counts_attempts_and_forgets_what_was_written(
    store_url: str, tmp_path: Path
) -> None:
    from kam_sync.store.writes import clear_retries, record_failures, retry_items

    store = open_store(store_url, tmp_path)
    # A failed bulk job fails every account at once: more than one statement may bind.
    failures = [
        (f"A{i:05d}", name, "key", "UNABLE_TO_LOCK_ROW", "locked")
        for i in range(70_000)
        for name in ("kam_tier",)
    ] + [("A00001", "kam_score", 71.5, "STRING_TOO_LONG", "too long")]
    for run_id in (1, 2):
        with store.transaction() as conn:
            record_failures(conn, store, failures, run_id=run_id, retry_limit=2)
    with store.transaction() as conn:
        clear_retries(conn, [(f"A{i:05d}", "kam_tier") for i in range(1, 70_000)])

    items = retry_items(store)
    assert [(i.account_id, i.field, i.attempts, i.dead) for i in items] == [
        ("A00000", "kam_tier", 2, True),
        ("A00001", "kam_score", 2, True),
    ]
    assert items[1].value == 71.5 and items[1].last_error_code == "STRING_TOO_LONG"
    store.close()
