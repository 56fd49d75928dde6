"""The push shows live progress: between two batches of a chunk, the bar learns the write calls
made so far and the accounts they wrote (a chunk of 50,000 updates would otherwise show nothing
until it is over)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from kam_sync.engine.pipeline import RunOptions, SyncEngine
from kam_sync_connectors.base import QuotaStatus
from kam_sync_connectors.hubspot.settings import HubSpotSettings


class _Connector:
    name = "hubspot"

    def __init__(self) -> None:
        self.calls = {"write": 4, "describe": 2}  # four writes of an earlier chunk

    def quota(self) -> QuotaStatus:
        return QuotaStatus(used=None, limit=None, calls_by_kind=dict(self.calls))


def _engine(connector: _Connector) -> SyncEngine:
    engine = SyncEngine.__new__(SyncEngine)
    engine.connector = connector  # type: ignore[assignment]
    settings = HubSpotSettings(write_batch_size=100)
    engine.project = SimpleNamespace(  # type: ignore[assignment]
        config=SimpleNamespace(
            crm=SimpleNamespace(type="hubspot"), connector_settings=lambda: settings
        )
    )
    return engine


def test_each_batch_boundary_reports_the_write_calls_and_accounts_so_far() -> None:
    seen: list[tuple[str, int, int | None, str | None]] = []

    def progress(step: str, done: int, total: int | None, detail: str | None = None) -> None:
        seen.append((step, done, total, detail))

    stop = threading.Event()
    connector = _Connector()
    # The second chunk: 1,000 accounts from 400 on, ten batch updates of 100.
    should_stop = _engine(connector)._push_ticker(
        RunOptions(progress=progress, stop=stop), 400, 1000, 1400
    )

    connector.calls["write"] = 5
    assert should_stop() is False
    connector.calls["write"] = 6
    stop.set()
    assert should_stop() is True

    assert seen == [
        ("push", 400 + 100, 1400, "5 write calls"),
        ("push", 400 + 200, 1400, "6 write calls"),
    ]


def test_retried_calls_never_show_more_than_the_chunk() -> None:
    seen: list[int] = []
    connector = _Connector()
    should_stop = _engine(connector)._push_ticker(
        RunOptions(progress=lambda step, done, total, detail=None: seen.append(done)), 0, 150, 150
    )
    connector.calls["write"] = 4 + 9  # lock retries: more calls than the chunk's two batches
    should_stop()
    assert seen == [150]


def test_without_progress_the_push_asks_only_the_stop_event() -> None:
    stop = threading.Event()
    should_stop = _engine(_Connector())._push_ticker(RunOptions(stop=stop), 0, 10, 10)
    assert should_stop() is False
    stop.set()
    assert should_stop() is True
