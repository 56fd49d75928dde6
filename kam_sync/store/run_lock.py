"""The run lock, kept in the state store: one run per store, wherever the runs start.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held on a connection kept
open for the whole run. The server releases it when that connection ends, so a process that dies
(even by ``kill -9``, or with its machine) never blocks the next run.

SQLite: a row in ``run_lock`` naming the holder (host, pid, start time, heartbeat). A second
process is refused while the holder lives. A row left by a dead holder (same host and process
namespace, pid gone) or one whose heartbeat is older than the staleness bound is taken over with
one compare-and-swap UPDATE on the exact row text that was read, so of two takers only one wins.

On both, the row says who holds the lock, for the message of a refused run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from kam_sync.errors import RunLockedError
from kam_sync.store import schema
from kam_sync.store.store import StateStore

log = logging.getLogger(__name__)

LOCK_NAME = "run"
# Advisory-lock keys are one bigint per database; derived from this constant and the schema the
# store lives in, so two stores in two schemas of one database do not block each other.
ADVISORY_KEY_SEED = "kam-sync run lock"
# A takeover loses its compare-and-swap only when another process changed the row in between;
# after this many rounds something keeps changing it, and the run is refused.
TAKEOVER_ROUNDS = 5
# PostgreSQL: how long a run waits for the server to end the session of a holder that is known
# to be dead (killed on this machine), polling every DEAD_SESSION_POLL_SECONDS.
DEAD_SESSION_WAIT_SECONDS = 10.0
DEAD_SESSION_POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds (or wants) the run lock."""

    host: str
    pid: int
    # The process's pid namespace: pids are comparable only within one (containers share a
    # host name more often than one would think).
    pid_namespace: str | None
    token: str
    since: datetime
    heartbeat: datetime

    @classmethod
    def this_process(cls, now: datetime) -> LockHolder:
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            pid_namespace=_pid_namespace(),
            token=uuid.uuid4().hex,
            since=now,
            heartbeat=now,
        )

    def describe(self) -> str:
        return (
            f"pid {self.pid} on {self.host} since "
            f"{self.since.astimezone(UTC).isoformat(timespec='seconds')}"
        )

    def to_text(self) -> str:
        return json.dumps(
            {
                "host": self.host,
                "pid": self.pid,
                "pid_namespace": self.pid_namespace,
                "token": self.token,
                "since": self.since.astimezone(UTC).isoformat(),
                "heartbeat": self.heartbeat.astimezone(UTC).isoformat(),
            },
            sort_keys=True,
        )

    @classmethod
    def from_text(cls, value: str) -> LockHolder | None:
        """The holder a row names, or None when the row is not one kam-sync wrote."""
        try:
            data = json.loads(value)
            return cls(
                host=str(data["host"]),
                pid=int(data["pid"]),
                pid_namespace=data.get("pid_namespace"),
                token=str(data["token"]),
                since=datetime.fromisoformat(data["since"]),
                heartbeat=datetime.fromisoformat(data["heartbeat"]),
            )
        except (ValueError, TypeError, KeyError):
            return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def holder_is_dead(holder: LockHolder, now: datetime, stale_after: timedelta) -> bool:
    """True when the holder's process is known to be gone, or it stopped beating."""
    if now - holder.heartbeat > stale_after:
        return True
    return _process_is_gone(holder)


def _process_is_gone(holder: LockHolder) -> bool:
    """True when the holder ran on this machine (and pid namespace) and its process is gone."""
    if holder.host != socket.gethostname() or holder.pid_namespace != _pid_namespace():
        return False  # another machine or container: only its heartbeat can tell
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by another user
    return False


class RunLease(ABC):
    """The run lock, held. ``beat`` keeps it fresh and says whether it is still ours."""

    @abstractmethod
    def beat(self, now: datetime) -> bool: ...

    @abstractmethod
    def release(self) -> None: ...


def acquire_run_lock(
    store: StateStore,
    *,
    stale_after: timedelta,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    is_dead: Callable[[LockHolder, datetime, timedelta], bool] = holder_is_dead,
) -> RunLease:
    """Take the store's run lock or raise :class:`RunLockedError` naming its holder."""
    me = LockHolder.this_process(clock())
    if store.engine.dialect.name == "postgresql":
        return _PostgresLease.acquire(store, me)
    return _SqliteLease.acquire(store, me, stale_after=stale_after, clock=clock, is_dead=is_dead)


def _refused(holder: LockHolder | None) -> RunLockedError:
    who = holder.describe() if holder is not None else "another process"
    return RunLockedError(
        f"another kam-sync run on this state store is in progress ({who}); "
        "try again when it has finished"
    )


def _read_holder(conn: Connection) -> tuple[str | None, LockHolder | None]:
    row = conn.execute(
        select(schema.run_lock.c.holder).where(schema.run_lock.c.name == LOCK_NAME)
    ).first()
    if row is None:
        return None, None
    return row[0], LockHolder.from_text(row[0])


class _SqliteLease(RunLease):
    def __init__(self, store: StateStore, holder: LockHolder) -> None:
        self.store = store
        self.holder = holder
        self._text = holder.to_text()

    @classmethod
    def acquire(
        cls,
        store: StateStore,
        me: LockHolder,
        *,
        stale_after: timedelta,
        clock: Callable[[], datetime],
        is_dead: Callable[[LockHolder, datetime, timedelta], bool],
    ) -> _SqliteLease:
        table = schema.run_lock
        mine = me.to_text()
        for _ in range(TAKEOVER_ROUNDS):
            with store.engine.begin() as conn:
                created = conn.execute(
                    store.insert_statement(table)
                    .values(name=LOCK_NAME, holder=mine, acquired_at=me.since)
                    .on_conflict_do_nothing(index_elements=["name"])
                )
            if created.rowcount == 1:
                return cls(store, me)
            with store.engine.connect() as conn:
                seen_text, seen = _read_holder(conn)
            if seen_text is None:
                continue  # released in between: try to insert again
            if seen is not None and not is_dead(seen, clock(), stale_after):
                raise _refused(seen)
            # Compare-and-swap on the exact text read: of two takers, one changes it first and
            # the other's UPDATE matches no row.
            with store.engine.begin() as conn:
                taken = conn.execute(
                    update(table)
                    .where(table.c.name == LOCK_NAME, table.c.holder == seen_text)
                    .values(holder=mine, acquired_at=me.since)
                )
            if taken.rowcount == 1:
                log.warning(
                    "took over the run lock left by %s, which is no longer running",
                    seen.describe() if seen is not None else "an unknown holder",
                )
                return cls(store, me)
        raise _refused(None)

    def beat(self, now: datetime) -> bool:
        table = schema.run_lock
        fresh = replace(self.holder, heartbeat=now)
        fresh_text = fresh.to_text()
        with self.store.engine.begin() as conn:
            result = conn.execute(
                update(table)
                .where(table.c.name == LOCK_NAME, table.c.holder == self._text)
                .values(holder=fresh_text)
            )
        if result.rowcount != 1:
            return False
        self.holder, self._text = fresh, fresh_text
        return True

    def release(self) -> None:
        table = schema.run_lock
        with self.store.engine.begin() as conn:
            conn.execute(
                delete(table).where(table.c.name == LOCK_NAME, table.c.holder == self._text)
            )


class _PostgresLease(RunLease):
    def __init__(self, store: StateStore, conn: Connection, key: int, holder: LockHolder) -> None:
        self.store = store
        self.conn = conn
        self.key = key
        self.holder = holder

    @classmethod
    def acquire(cls, store: StateStore, me: LockHolder) -> _PostgresLease:
        conn = store.engine.connect()
        deadline = time.monotonic() + DEAD_SESSION_WAIT_SECONDS
        try:
            schema_name = conn.execute(text("SELECT current_schema()")).scalar_one()
            key = advisory_key(str(schema_name))
            while True:
                got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
                conn.commit()  # a session-level lock outlives the transaction
                if got:
                    break
                _, holder = _read_holder(conn)
                conn.commit()
                # A holder killed a moment ago on this machine: its server session ends when the
                # server notices the closed socket, usually within milliseconds. Wait for that
                # rather than refuse a run that an operator restarts straight after a kill.
                if not (
                    holder is not None and _process_is_gone(holder) and time.monotonic() < deadline
                ):
                    conn.close()
                    raise _refused(holder)
                time.sleep(DEAD_SESSION_POLL_SECONDS)
        except RunLockedError:
            raise
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        lease = cls(store, conn, key, me)
        try:
            lease._write_holder(me)
        except BaseException:
            lease.release()
            raise
        return lease

    def _write_holder(self, holder: LockHolder) -> None:
        table = schema.run_lock
        row: dict[str, Any] = {
            "name": LOCK_NAME,
            "holder": holder.to_text(),
            "acquired_at": holder.since,
        }
        with self.store.engine.begin() as conn:
            conn.execute(self.store.upsert_statement(table, [row], ("name",)), [row])

    def beat(self, now: datetime) -> bool:
        # The lock lives as long as its connection: a connection that still answers holds it.
        try:
            self.conn.execute(text("SELECT 1")).scalar_one()
            self.conn.commit()
        except SQLAlchemyError:
            return False
        fresh = replace(self.holder, heartbeat=now)
        self._write_holder(fresh)
        self.holder = fresh
        return True

    def release(self) -> None:
        table = schema.run_lock
        try:
            with self.store.engine.begin() as conn:
                conn.execute(delete(table).where(table.c.name == LOCK_NAME))
            self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self.conn.commit()
        except SQLAlchemyError:
            # Never hand a connection that may still hold the lock back to the pool.
            self.conn.invalidate()
        finally:
            self.conn.close()


def advisory_key(schema_name: str) -> int:
    """A signed 64-bit advisory-lock key for the store in ``schema_name``."""
    digest = hashlib.sha256(f"{ADVISORY_KEY_SEED}:{schema_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


__all__ = ["LockHolder", "RunLease", "acquire_run_lock", "advisory_key", "holder_is_dead"]
