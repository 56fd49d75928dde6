"""The run lock's heartbeat keeps a live holder's lock and stops a run that lost it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from kam_sync.engine.lock import RunLock
from kam_sync.store import open_store, schema
from kam_sync.store.run_lock import LockHolder


def _holder(store_path: Path) -> LockHolder | None:
    store = open_store(f"sqlite:///{store_path}", store_path.parent)
    try:
        with store.engine.connect() as conn:
            value = conn.execute(select(schema.run_lock.c.holder)).scalar_one_or_none()
    finally:
        store.close()
    return None if value is None else LockHolder.from_text(value)


def test_a_running_holder_renews_its_heartbeat_and_releases_the_lock_at_the_end(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.sqlite"
    store = open_store(f"sqlite:///{path}", tmp_path)
    lock = RunLock(store, stale_after=timedelta(seconds=1))
    with lock:
        first = _holder(path)
        assert first is not None
        threading.Event().wait(0.5)
        later = _holder(path)
        assert later is not None and later.token == first.token
        assert later.heartbeat > first.heartbeat
    assert _holder(path) is None
    assert not lock.lost
    store.close()


def test_a_run_whose_lock_was_taken_over_is_asked_to_stop(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    store = open_store(f"sqlite:///{path}", tmp_path)
    stop = threading.Event()
    lock = RunLock(store, stale_after=timedelta(seconds=1), on_lost=stop.set)
    with lock:
        now = datetime.now(UTC)
        other = LockHolder("elsewhere", 7, None, "o" * 32, now, now)
        with store.transaction() as conn:
            conn.execute(update(schema.run_lock).values(holder=other.to_text()))
        assert stop.wait(5), "the run was not told it lost the lock"
        assert lock.lost
    # The new holder's lock is left alone.
    holder = _holder(path)
    assert holder is not None and holder.host == "elsewhere"
    store.close()
