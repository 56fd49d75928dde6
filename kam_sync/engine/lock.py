"""One run per state store at a time, wherever the runs start.

The lock lives in the state store (``kam_sync.store.run_lock``): a PostgreSQL advisory lock, or
a lock row for SQLite. Two project folders, containers or machines that share a store cannot run
at once; a refused run exits 5 naming the holder (host, pid, since). While a run holds the lock,
a thread renews its heartbeat; if the lock turns out lost (taken over after a stall longer than
the staleness bound, or the PostgreSQL connection that held it died), the run is asked to stop
after its current batch instead of racing the new holder.

There is no file lock on the project folder besides: the store lock covers every process that
could touch the same store, which a lock on one folder cannot.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType

from kam_sync.store import StateStore
from kam_sync.store.run_lock import RunLease, acquire_run_lock

log = logging.getLogger(__name__)

# How many heartbeats fit in one staleness period: a holder misses several before it is stale.
HEARTBEATS_PER_STALE_PERIOD = 10


class RunLock:
    """Context manager holding the store's run lock, with its heartbeat."""

    def __init__(
        self,
        store: StateStore,
        *,
        stale_after: timedelta,
        on_lost: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.stale_after = stale_after
        self.on_lost = on_lost
        self.clock = clock
        self.lost = False
        self._lease: RunLease | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        self._lease = acquire_run_lock(self.store, stale_after=self.stale_after, clock=self.clock)
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="kam-sync-run-lock", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        interval = self.stale_after.total_seconds() / HEARTBEATS_PER_STALE_PERIOD
        while not self._stop.wait(interval):
            lease = self._lease
            if lease is None:
                return
            try:
                held = lease.beat(self.clock())
            except Exception:
                # A busy or briefly unreachable store: try again at the next beat; the lock is
                # stale only after HEARTBEATS_PER_STALE_PERIOD of these in a row.
                log.debug("run lock heartbeat failed", exc_info=True)
                continue
            if not held:
                self.lost = True
                log.error(
                    "the run lock was lost (taken over or its connection ended); "
                    "stopping after the current batch"
                )
                if self.on_lost is not None:
                    self.on_lost()
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._lease is not None:
            self._lease.release()  # a lost SQLite row is not ours: its DELETE matches nothing
        self._lease = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
