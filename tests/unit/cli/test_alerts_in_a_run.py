"""A run's alert reaches a Slack webhook with the accounts' names and links to their records."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from kam_sync.cli.main import main
from kam_sync.sandbox.hubspot.app import HUB_ID
from tests.e2e.crm import sandbox_project


@pytest.fixture
def slack() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/services/T0/B0/s3cret", received
    server.shutdown()
    server.server_close()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.slow
# Without crm.hubspot.portal_id, the portal id comes from the account details (the sandbox's).
@pytest.mark.parametrize(
    ("portal_id", "amount"),
    [(4242, "amount_in_home_currency"), (None, "amount_in_home_currency"), (None, "amount")],
)
def test_a_growth_alert_names_the_added_accounts_with_links_in_slack(
    portal_id: int | None,
    amount: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    slack: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = slack
    project = tmp_path / "project"
    with sandbox_project("hubspot", project, accounts=120) as (handle, env):
        for name, value in env.items():
            if name.startswith("KAM_SYNC_"):
                monkeypatch.setenv(name, value)
        monkeypatch.setenv("KAM_SYNC_TEST_SLACK", url)
        # Any key account the first run adds raises the alert.
        _edit(
            project / "rules" / "governance.yaml",
            "additions_without_removals_runs: 5",
            "additions_without_removals_runs: 1",
        )
        _edit(
            project / "kam-sync.yaml",
            "  - type: log\n",
            "  - type: log\n  - type: webhook\n    url_env: KAM_SYNC_TEST_SLACK\n"
            "    format: slack\n    max_accounts: 3\n",
        )
        if portal_id is not None:
            _edit(
                project / "kam-sync.yaml",
                "  hubspot:\n",
                f"  hubspot:\n    portal_id: {portal_id}\n",
            )
        # Reading `amount`, the run needs no currency: the links alone ask for the account
        # details, while the alerts are sent, after the run was recorded.
        _edit(
            project / "mappings" / "hubspot.yaml",
            "amount: amount_in_home_currency",
            f"amount: {amount}",
        )
        assert main(["provision", "--project", str(project)]) == 0
        handle.reset_stats()
        code = main(["run", "--project", str(project)])
        account_info_calls = handle.stats()["requests"].get("account_info", {}).get("GET", 0)
        out = capsys.readouterr()
        assert main(["status", "--json", "--project", str(project)]) == 0
        ledger = json.loads(capsys.readouterr().out)

    assert code == 3
    [message] = received
    assert message["text"].startswith("kam-sync run #1 (project): attention")
    alert = next(
        b["text"]["text"]
        for b in message["blocks"]
        if b["type"] == "section" and "additions_without_removals" in b["text"]["text"]
    )
    links = [line for line in alert.splitlines() if line.startswith("• <")]
    assert len(links) == 3
    for line in links:
        assert line.startswith(
            f"• <https://app.hubspot.com/contacts/{portal_id or HUB_ID}/record/0-2/"
        )
        name = line.split("|", 1)[1].rstrip(">")
        assert name and not name.isdigit(), "the account is named, not numbered"
    assert "s3cret" not in out.out + out.err
    assert account_info_calls == 1, "one call per run: the currency and the links share it"
    [run] = [r for r in ledger["runs"] if r["id"] == 1]
    assert run["api_calls"].get("account_info", 0) == account_info_calls, "the ledger counts it"
