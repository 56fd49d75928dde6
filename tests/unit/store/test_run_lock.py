"""The run lock in the state store, and watermarks that never move back, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from kam_sync.errors import RunLockedError
from kam_sync.store import open_store, schema
from kam_sync.store.run_lock import LockHolder, acquire_run_lock, holder_is_dead

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STALE = timedelta(minutes=10)


def test_a_watermark_never_moves_back_inside_the_callers_transaction(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url, tmp_path)
    later = T0 + timedelta(hours=2)
    with store.transaction() as conn:
        store.set_watermark("account", later, conn=conn)
    with store.transaction() as conn:
        store.set_watermark("account", T0, conn=conn)  # how the pipeline calls it
    assert store.watermark("account") == later
    with store.transaction() as conn:
        store.set_watermark("account", later + timedelta(seconds=1), conn=conn)
    assert store.watermark("account") == later + timedelta(seconds=1)
    store.close()


def test_a_second_taker_is_refused_naming_the_holder(store_url: str, tmp_path: Path) -> None:
    first_store = open_store(store_url, tmp_path)
    second_store = open_store(store_url, tmp_path)
    lease = acquire_run_lock(first_store, stale_after=STALE)
    with pytest.raises(RunLockedError) as refused:
        acquire_run_lock(second_store, stale_after=STALE)
    assert f"pid {os.getpid()}" in str(refused.value)
    assert refused.value.exit_code == 5
    lease.release()
    acquire_run_lock(second_store, stale_after=STALE).release()  # free again once released
    first_store.close()
    second_store.close()


def test_a_lock_held_by_another_process_is_refused_until_that_process_dies(
    store_url: str, tmp_path: Path
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from datetime import timedelta
                from pathlib import Path
                from kam_sync.store import open_store
                from kam_sync.store.run_lock import acquire_run_lock
                store = open_store({store_url!r}, Path({str(tmp_path)!r}))
                acquire_run_lock(store, stale_after=timedelta(minutes=10))
                print("held", flush=True)
                time.sleep(600)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        store = open_store(store_url, tmp_path)
        with pytest.raises(RunLockedError, match=f"pid {holder.pid} "):
            acquire_run_lock(store, stale_after=STALE)
    finally:
        holder.kill()
        holder.wait()
    # Killed without releasing anything: the lock is taken over (PostgreSQL: the server ended
    # the session; SQLite: same host, pid gone).
    lease = acquire_run_lock(store, stale_after=STALE)
    lease.release()
    store.close()


def _plant_holder(store_url: str, tmp_path: Path, holder: LockHolder) -> None:
    store = open_store(store_url, tmp_path)
    with store.transaction() as conn:
        conn.execute(
            schema.run_lock.insert().values(
                name="run", holder=holder.to_text(), acquired_at=holder.since
            )
        )
    store.close()


def test_sqlite_a_silent_holder_on_another_machine_is_taken_over_once_stale(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    now = datetime.now(UTC)
    far = LockHolder("other-host", 4242, "pid:[1]", "t" * 32, now - timedelta(hours=1), now)
    _plant_holder(url, tmp_path, far)
    store = open_store(url, tmp_path)
    with pytest.raises(RunLockedError, match="pid 4242 on other-host"):
        acquire_run_lock(store, stale_after=STALE)  # alive as far as anyone can tell
    with store.transaction() as conn:
        conn.execute(
            update(schema.run_lock).values(
                holder=LockHolder(
                    far.host, far.pid, far.pid_namespace, far.token, far.since, now - 2 * STALE
                ).to_text()
            )
        )
    lease = acquire_run_lock(store, stale_after=STALE)
    with store.engine.connect() as conn:
        text = conn.execute(select(schema.run_lock.c.holder)).scalar_one()
    assert LockHolder.from_text(text) is not None
    assert f'"pid": {os.getpid()}' in text
    lease.release()
    store.close()


def test_sqlite_two_takers_of_a_dead_lock_cannot_both_win(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    stale = datetime.now(UTC) - 2 * STALE
    _plant_holder(url, tmp_path, LockHolder("gone", 1, None, "d" * 32, stale, stale))
    stores = [open_store(url, tmp_path) for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    won: list[object] = []
    refused: list[RunLockedError] = []

    def take(i: int) -> None:
        barrier.wait()
        try:
            won.append(acquire_run_lock(stores[i], stale_after=STALE))
        except RunLockedError as exc:
            refused.append(exc)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == len(stores) - 1
    for store in stores:
        store.close()


def test_a_holder_is_dead_when_its_pid_is_gone_on_this_host_and_alive_while_it_runs() -> None:
    now = datetime.now(UTC)
    me = LockHolder.this_process(now)
    assert not holder_is_dead(me, now, STALE)
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    gone = LockHolder(me.host, int(finished.stdout), me.pid_namespace, "x", now, now)
    assert holder_is_dead(gone, now, STALE)
    assert holder_is_dead(me, now + 2 * STALE, STALE)  # stopped beating
