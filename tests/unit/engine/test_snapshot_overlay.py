"""A plan reads the snapshot overlaid with what it pulled, and leaves the store alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from kam_sync.engine.frames import load_snapshot
from kam_sync.store import open_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _account(i: int, name: str, *, deleted: bool = False) -> dict[str, object]:
    return {
        "id": f"A{i:03d}",
        "name": name,
        "modified_at": T0 + timedelta(minutes=i),
        "is_deleted": deleted,
    }


def test_pulled_records_replace_stored_ones_by_id_and_deleted_ones_leave(tmp_path: Path) -> None:
    store = open_store("sqlite:///state.sqlite", tmp_path / "store")
    store.upsert_snapshot("account", [_account(i, f"stored {i}") for i in range(4)])
    overlay = open_store("sqlite:///overlay.sqlite", tmp_path / "overlay")
    overlay.upsert_snapshot(
        "account",
        [
            _account(1, "pulled 1"),  # changed in the CRM
            _account(2, "pulled 2", deleted=True),  # deleted in the CRM
            _account(9, "pulled 9"),  # new in the CRM
        ],
    )
    # The store keeps a deleted record only as a mark on a row it has: the pull names it.
    table = load_snapshot(store, "account", columns=("id", "name"), overlay=overlay, gone={"A002"})
    assert table.rows() == [
        ("A000", "stored 0"),
        ("A001", "pulled 1"),
        ("A003", "stored 3"),
        ("A009", "pulled 9"),
    ]
    assert load_snapshot(store, "account", columns=("id", "name")).height == 4, "store unchanged"
    store.close()
    overlay.close()


def test_an_empty_overlay_reads_the_store_as_it_is(tmp_path: Path) -> None:
    store = open_store("sqlite:///state.sqlite", tmp_path / "store")
    store.upsert_snapshot("account", [_account(i, f"stored {i}") for i in range(3)])
    overlay = open_store("sqlite:///overlay.sqlite", tmp_path / "overlay")
    plain = load_snapshot(store, "account")
    assert load_snapshot(store, "account", overlay=overlay).equals(plain)
    store.close()
    overlay.close()
