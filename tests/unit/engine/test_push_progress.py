"""The push shows live progress: between two batches of a chunk, the bar learns the write calls
made so far (a chunk of 50,000 updates would otherwise show nothing until it is over)."""

from __future__ import annotations

import threading

from kam_sync.engine.pipeline import RunOptions, SyncEngine
from kam_sync_connectors.base import QuotaStatus


class _Connector:
    def __init__(self) -> None:
        self.calls = {"write": 0, "describe": 2}

    def quota(self) -> QuotaStatus:
        return QuotaStatus(used=None, limit=None, calls_by_kind=dict(self.calls))


def test_each_batch_boundary_reports_the_write_calls_so_far() -> None:
    seen: list[tuple[str, int, int | None, str | None]] = []

    def progress(step: str, done: int, total: int | None, detail: str | None = None) -> None:
        seen.append((step, done, total, detail))

    stop = threading.Event()
    options = RunOptions(progress=progress, stop=stop)
    engine = SyncEngine.__new__(SyncEngine)
    connector = _Connector()
    engine.connector = connector  # type: ignore[assignment]
    should_stop = engine._push_ticker(options, 0, 5000)

    connector.calls["write"] = 1
    assert should_stop() is False
    connector.calls["write"] = 2
    stop.set()
    assert should_stop() is True

    assert seen == [
        ("push", 0, 5000, "1 write call"),
        ("push", 0, 5000, "2 write calls"),
    ]


def test_without_progress_the_push_asks_only_the_stop_event() -> None:
    stop = threading.Event()
    engine = SyncEngine.__new__(SyncEngine)
    should_stop = engine._push_ticker(RunOptions(stop=stop), 0, 10)
    assert should_stop() is False
    stop.set()
    assert should_stop() is True
