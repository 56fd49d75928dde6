"""Schema version 5: the score history behind the report's top movers (only scores that moved
are kept; pruning keeps each account's baseline) and each run's exit code in the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy import create_engine, inspect, select, text

from kam_sync.store import open_store, schema
from kam_sync.store.history import save_scores, score_movers
from kam_sync.store.migrations import migrate
from kam_sync.store.store import StateStore, resolve_url

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _scores(**by_account: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "account_id": list(by_account),
            "score": list(by_account.values()),
            "tier": ["key"] * len(by_account),
        }
    )


def _save(store: StateStore, run_id: int, day: int, keep_days: int = 400, **scores: float) -> int:
    with store.transaction() as conn:
        return save_scores(
            conn,
            store,
            run_id=run_id,
            as_of=T0 + timedelta(days=day),
            assessments=_scores(**scores),
            keep_days=keep_days,
        )


def _rows(store: StateStore) -> list[tuple[str, int]]:
    sh = schema.score_history
    with store.engine.connect() as conn:
        return sorted((a, r) for a, r in conn.execute(select(sh.c.account_id, sh.c.run_id)))


def test_only_scores_that_moved_are_recorded(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, tmp_path)
    try:
        assert _save(store, 1, 0, A=50.0, B=60.0) == 2
        assert _save(store, 2, 1, A=50.0, B=60.0) == 0
        assert _save(store, 3, 2, A=50.0, B=61.25, C=10.0) == 2
        assert _rows(store) == [("A", 1), ("B", 1), ("B", 3), ("C", 3)]
    finally:
        store.close()


def test_pruning_keeps_each_accounts_score_at_the_start_of_the_window(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url, tmp_path)
    try:
        store.upsert_snapshot(
            "account",
            [{"id": a, "name": f"Account {a}", "modified_at": T0} for a in ("A", "B")],
        )
        _save(store, 1, 0, keep_days=30, A=10.0, B=10.0)
        _save(store, 2, 5, keep_days=30, A=20.0)
        _save(store, 3, 50, keep_days=30, A=30.0)
        # Cut-off day 20: A's day-0 row goes (day 5 is its score then); B's day-0 row stays.
        assert _rows(store) == [("A", 2), ("A", 3), ("B", 1)]
        movers = score_movers(store, at=T0 + timedelta(days=20), limit=5)
        assert [(m.account_id, m.previous_score, m.score) for m in movers] == [("A", 20.0, 30.0)]
    finally:
        store.close()


def test_a_store_at_version_4_gets_the_exit_code_column_keeping_its_runs(
    store_url: str, tmp_path: Path
) -> None:
    engine = create_engine(resolve_url(store_url, tmp_path))
    if engine.dialect.name == "sqlite":
        Path(engine.url.database or "").parent.mkdir(parents=True, exist_ok=True)
    with engine.begin() as conn:
        migrate(conn, target=4)
        conn.execute(
            text("ALTER TABLE run DROP COLUMN exit_code")
        )  # the table as version 4 made it
        conn.execute(
            text("INSERT INTO run (started_at, as_of, mode, status) VALUES (:t, :t, 'run', 'ok')"),
            {"t": T0.replace(tzinfo=None)},
        )
    engine.dispose()

    store = open_store(store_url, tmp_path)
    try:
        assert "exit_code" in {c["name"] for c in inspect(store.engine).get_columns("run")}
        assert "score_history" in inspect(store.engine).get_table_names()
        [old] = store.runs()
        assert old["exit_code"] is None and old["status"] == "ok"
        run_id = store.begin_run(as_of=T0, mode="run")
        store.finish_run(run_id, status="ok", exit_code=3)
        assert store.runs(limit=1)[0]["exit_code"] == 3
    finally:
        store.close()
