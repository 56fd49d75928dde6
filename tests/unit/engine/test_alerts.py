"""Run-level alerts reach the project's webhook in the format its chat tool displays, with
account names and record links, within a total time limit, never following a redirect to
another host, and never naming the URL (it may hold a token)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kam_sync.config.alert_urls import webhook_url_problem
from kam_sync.config.project import AlertHook
from kam_sync.engine.alerts import AccountRef, send_alerts
from kam_sync.engine.summary import RunSummary

T0 = datetime(2026, 11, 27, 2, tzinfo=UTC)
GROWTH = {"kind": "key_list_growth", "message": "grew 40 %", "accounts": ["A1", "A2", "A3"]}
NAMES = {"A1": "Acme & Sons <EU>", "A2": "Globex", "A3": "Initech"}


class _Server:
    """A local webhook: records what it receives; each test sets how it answers."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.answer: Callable[[BaseHTTPRequestHandler, int], None] = _answer(204)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.received.append(json.loads(body))
                server.paths.append(self.path)
                server.answer(self, len(server.received))

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_port
        self.url = f"http://127.0.0.1:{self.port}/hook?token=s3cret"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _answer(status: int, **headers: str) -> Callable[[BaseHTTPRequestHandler, int], None]:
    def answer(handler: BaseHTTPRequestHandler, _n: int) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


@pytest.fixture
def server() -> Iterator[_Server]:
    webhook = _Server()
    yield webhook
    webhook.close()


def _summary(**changes: Any) -> RunSummary:
    summary = RunSummary(run_id=7, mode="run", as_of=T0, started_at=T0, status="ok")
    for key, value in changes.items():
        setattr(summary, key, value)
    return summary


def _lookup(ids: Sequence[str]) -> list[AccountRef]:
    return [AccountRef(i, NAMES[i], f"https://acme.my.salesforce.com/{i}") for i in ids]


def _send(url: str, hook: AlertHook, summary: RunSummary | None = None, **kwargs: Any) -> None:
    send_alerts(
        [hook],
        summary or _summary(alerts=[GROWTH]),
        project="/srv/kam",
        environ={"KAM_HOOK": url},
        accounts=_lookup,
        **kwargs,
    )


def _hook(**settings: Any) -> AlertHook:
    return AlertHook(type="webhook", url_env="KAM_HOOK", **settings)


def test_a_generic_hook_posts_the_run_with_named_and_linked_accounts(server: _Server) -> None:
    _send(server.url, _hook())
    [payload] = server.received
    assert payload["run_id"] == 7
    assert payload["exit_code"] == 3
    assert payload["headline"] == "attention: 1 alert"
    [alert] = payload["alerts"]
    assert alert["kind"] == "key_list_growth" and alert["accounts"] == ["A1", "A2", "A3"]
    assert alert["account_details"][1] == {
        "id": "A2",
        "name": "Globex",
        "url": "https://acme.my.salesforce.com/A2",
    }
    assert server.paths == ["/hook?token=s3cret"]


def test_a_slack_hook_posts_text_and_blocks_with_escaped_names_and_links(server: _Server) -> None:
    _send(server.url, _hook(format="slack", max_accounts=2))
    [payload] = server.received
    assert payload["text"].startswith("kam-sync run #7 (kam): attention: 1 alert")
    sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    alert_text = sections[-1]
    assert alert_text.startswith("*key_list_growth*: grew 40 %")
    # Slack's mrkdwn: & < > escaped, so a name cannot break out of its link
    assert "• <https://acme.my.salesforce.com/A1|Acme &amp; Sons &lt;EU&gt;>" in alert_text
    assert "• <https://acme.my.salesforce.com/A2|Globex>" in alert_text
    assert "Initech" not in alert_text
    assert alert_text.endswith("… and 1 more")


def test_a_teams_hook_posts_an_adaptive_card_with_links(server: _Server) -> None:
    _send(server.url, _hook(format="teams"))
    [payload] = server.received
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    texts = [block["text"] for block in card["body"]]
    assert texts[0].startswith("kam-sync run #7 (kam): attention: 1 alert")
    assert "**key_list_growth**: grew 40 %" in texts
    assert "- [Globex](https://acme.my.salesforce.com/A2)" in texts[-1].splitlines()


def test_without_a_lookup_accounts_are_named_by_id(server: _Server) -> None:
    send_alerts(
        [_hook(format="slack")],
        _summary(alerts=[GROWTH]),
        project="p",
        environ={"KAM_HOOK": server.url},
    )
    assert "• A1" in server.received[0]["blocks"][-1]["text"]["text"]


def test_a_clean_run_sends_nothing(server: _Server) -> None:
    _send(server.url, _hook(), _summary())
    assert server.received == []


def test_a_server_error_is_retried_then_delivered(server: _Server) -> None:
    server.answer = lambda h, n: _answer(503 if n < 3 else 200)(h, n)
    waits: list[float] = []
    _send(server.url, _hook(retry_max_attempts=3, retry_wait_seconds=0.5), sleep=waits.append)
    assert len(server.received) == 3
    assert waits == [0.5, 1.0]


def test_a_refusal_is_not_retried_and_is_logged_without_the_url(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.answer = _answer(404)
    with caplog.at_level(logging.ERROR):
        _send(server.url, _hook())
    assert len(server.received) == 1
    assert "alert webhook from KAM_HOOK refused: HTTP 404" in caplog.text
    assert "s3cret" not in caplog.text and "127.0.0.1" not in caplog.text


def test_a_redirect_to_another_host_is_not_followed(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    other = _Server()
    try:
        # 127.0.0.1 and localhost are different hosts to a browser and to kam-sync.
        server.answer = _answer(307, Location=f"http://localhost:{other.port}/steal")
        with caplog.at_level(logging.ERROR):
            _send(server.url, _hook())
    finally:
        other.close()
    assert len(server.received) == 1
    assert other.received == []
    assert "redirect to another host, not followed" in caplog.text


def test_a_redirect_loop_on_the_same_host_stops_after_a_few_hops(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.answer = _answer(307, Location="/hook-again")
    with caplog.at_level(logging.ERROR):
        _send(server.url, _hook(retry_max_attempts=1))
    assert len(server.received) == 4  # the POST and three redirects, not thirty
    assert "more than 3 redirects" in caplog.text


def test_a_same_host_307_repeats_the_post_there(server: _Server) -> None:
    server.answer = lambda h, n: (_answer(307, Location="/moved") if n == 1 else _answer(200))(h, n)
    _send(server.url, _hook())
    assert server.paths == ["/hook?token=s3cret", "/moved"]
    assert server.received[0] == server.received[1]


@pytest.mark.slow
def test_a_server_trickling_its_answer_does_not_hold_the_run(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    def trickle(handler: BaseHTTPRequestHandler, _n: int) -> None:
        # One byte of the status line every second, forever: each read succeeds in time.
        try:
            for byte in b"HTTP/1.1 200 OK\r\n" * 100:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(1.0)
        except OSError:
            pass

    server.answer = trickle
    started = time.monotonic()
    with caplog.at_level(logging.ERROR):
        _send(server.url, _hook(timeout_seconds=3))
    elapsed = time.monotonic() - started
    assert elapsed < 6, f"the hook held the run for {elapsed:.1f}s"
    assert "alert webhook from KAM_HOOK gave up after 3s (timeout_seconds)" in caplog.text


def test_an_unreachable_webhook_is_logged_without_its_url(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        _send("http://127.0.0.1:9/hook?token=s3cret", _hook(retry_max_attempts=1))
    assert "KAM_HOOK" in caplog.text
    assert "s3cret" not in caplog.text


def test_a_missing_url_variable_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        send_alerts([_hook()], _summary(write_failures=2), project="p", environ={})
    assert "KAM_HOOK is not set" in caplog.text


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "does not hold a URL"),
        ("https://", "does not hold a URL"),
        ("https://hooks.example.com:port/x", "does not hold a URL"),
        ("http://hooks.example.com/x?token=s3cret", "plain http://"),
        ("https://hooks.slack.com/services/T0/B0/s3cret", None),
        ("http://127.0.0.1:8080/hook", None),
    ],
)
def test_a_webhook_url_is_checked_without_repeating_it(url: str, problem: str | None) -> None:
    found = webhook_url_problem(url)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
        assert "s3cret" not in found and "example" not in found


def test_a_variable_holding_no_url_is_skipped_and_named(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        _send("not a url", _hook())
    assert "alert webhook skipped: KAM_HOOK does not hold a URL" in caplog.text
