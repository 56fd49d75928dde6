"""The write-ahead of pushed values (``pending_write``) on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from kam_sync.store import open_store, schema
from kam_sync.store.writes import (
    clear_pending,
    forget_accounts,
    load_pending,
    load_written,
    record_failures,
    record_pending,
    record_written,
    retry_items,
)


def test_pending_values_are_read_back_per_account_with_what_was_sent(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url, tmp_path)
    with store.transaction() as conn:
        record_pending(
            conn,
            store,
            {
                "A": {"kam_tier": "key", "kam_score": 61.5, "kam_flags": ["over_cap"]},
                "B": {"kam_tier": None, "kam_last_assessed": None},  # a clear
            },
            run_id=1,
        )

    pending = {r["account_id"]: r for r in load_pending(store).to_dicts()}

    assert pending["A"]["kam_tier"] == "key" and pending["A"]["sent_kam_tier"]
    assert pending["A"]["kam_score"] == 61.5 and pending["A"]["kam_flags"] == ["over_cap"]
    assert not pending["A"]["sent_kam_classification"]
    assert pending["B"]["kam_tier"] is None and pending["B"]["sent_kam_tier"]
    # The assessment stamp goes with every write and is never compared: not recorded.
    assert "kam_last_assessed" not in pending["B"]
    store.close()


def test_a_later_push_replaces_a_pending_value_and_clearing_leaves_the_others(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url, tmp_path)
    with store.transaction() as conn:
        record_pending(conn, store, {"A": {"kam_tier": "key", "kam_score": 50.0}}, run_id=1)
        record_pending(conn, store, {"A": {"kam_tier": "strategic"}}, run_id=2)
        clear_pending(conn, {"A": ["kam_score"]})

    (row,) = load_pending(store).to_dicts()
    assert (row["kam_tier"], row["sent_kam_tier"]) == ("strategic", True)
    assert (row["kam_score"], row["sent_kam_score"]) == (None, False)

    with store.transaction() as conn:
        clear_pending(conn, {"A": ("kam_tier",)})
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.pending_write)).scalar() == 0
    store.close()


def test_a_deleted_account_is_forgotten_everywhere(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, tmp_path)
    with store.transaction() as conn:
        for account in ("A", "Z"):
            record_written(conn, store, {account: {"kam_tier": "key"}}, run_id=1)
            record_pending(conn, store, {account: {"kam_tier": "watchlist"}}, run_id=2)
        record_failures(
            conn, store, [("Z", "kam_tier", "watchlist", "LOCK", "locked")], run_id=2, retry_limit=5
        )
        forget_accounts(conn, ["Z"])

    assert load_written(store)["account_id"].to_list() == ["A"]
    assert load_pending(store)["account_id"].to_list() == ["A"]
    assert retry_items(store) == []
    store.close()
