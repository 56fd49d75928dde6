"""Run-level alerts reach the project's webhook, with the URL taken from the environment."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from kam_sync.config.project import AlertHook
from kam_sync.engine.alerts import send_alerts
from kam_sync.engine.summary import RunSummary

T0 = datetime(2026, 11, 27, 2, tzinfo=UTC)


class _Collector(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Collector.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook_url() -> Any:
    _Collector.received = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook?token=s3cret"
    server.shutdown()


def _summary(**changes: Any) -> RunSummary:
    summary = RunSummary(run_id=7, mode="run", as_of=T0, started_at=T0, status="ok")
    for key, value in changes.items():
        setattr(summary, key, value)
    return summary


def test_a_growth_alert_is_posted_to_the_webhook(webhook_url: str) -> None:
    alert = {"kind": "key_list_growth", "message": "grew 40 %", "accounts": ["A1"]}
    send_alerts(
        [AlertHook(type="webhook", url_env="KAM_HOOK")],
        _summary(alerts=[alert]),
        project="p",
        environ={"KAM_HOOK": webhook_url},
    )
    [payload] = _Collector.received
    assert payload["run_id"] == 7
    assert payload["alerts"] == [alert]
    assert payload["exit_code"] == 3


def test_a_clean_run_sends_nothing(webhook_url: str) -> None:
    send_alerts(
        [AlertHook(type="webhook", url_env="KAM_HOOK")],
        _summary(),
        project="p",
        environ={"KAM_HOOK": webhook_url},
    )
    assert _Collector.received == []


def test_an_unreachable_webhook_is_logged_without_its_url(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        send_alerts(
            [AlertHook(type="webhook", url_env="KAM_HOOK")],
            _summary(status="failed"),
            project="p",
            environ={"KAM_HOOK": "http://127.0.0.1:9/hook?token=s3cret"},
        )
    assert "KAM_HOOK" in caplog.text
    assert "s3cret" not in caplog.text


def test_a_missing_url_variable_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        send_alerts(
            [AlertHook(type="webhook", url_env="KAM_HOOK")],
            _summary(write_failures=2),
            project="p",
            environ={},
        )
    assert "KAM_HOOK is not set" in caplog.text
