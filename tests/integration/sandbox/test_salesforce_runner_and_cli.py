"""Starting sandboxes: `kam-sync sandbox serve` as a user runs it, and `running_sandbox`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from kam_sync.sandbox.runner import running_sandbox


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kam_sync.cli.main", "sandbox", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_prints_one_json_line_and_saves_its_data_on_sigterm(tmp_path: Path) -> None:
    data_file = tmp_path / "org.json"
    process = _serve("--crm", "salesforce", "--accounts", "40", "--data", str(data_file))
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["base_url"].startswith("https://127.0.0.1:")
        assert set(info["credentials"]) >= {"client_id", "client_secret", "username",
                                            "password", "security_token"}  # fmt: skip
        session = requests.Session()
        session.trust_env = False
        session.verify = info["ca_cert_path"]
        versions = session.get(f"{info['base_url']}/services/data/").json()
        assert {"version": "59.0", "url": "/services/data/v59.0", "label": "Sandbox 59.0"} in (
            versions
        )
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    saved = json.loads(data_file.read_text())
    assert saved["format"] == "kam-sync-sandbox-salesforce/2"
    assert saved["origin"] == {"accounts": 40, "seed": 1}


def test_serve_refuses_a_bad_fault_spec_as_a_usage_error() -> None:
    process = _serve("--crm", "hubspot", "--faults", "latency=soon")
    assert process.wait(timeout=30) == 64
    assert process.stderr is not None
    assert "latency must be a duration" in process.stderr.read()


def test_the_hubspot_side_keeps_created_properties_in_the_data_file(tmp_path: Path) -> None:
    data_file = tmp_path / "portal.json"
    prop = {
        "name": "kam_score",
        "label": "KAM score",
        "type": "number",
        "fieldType": "number",
        "groupName": "companyinformation",
    }
    with running_sandbox("hubspot", accounts=20, seed=4, data_file=data_file) as first:
        token = first.credentials["access_token"]
        created = requests.post(
            f"{first.base_url}/crm/v3/properties/companies",
            json=prop,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
    with running_sandbox("hubspot", accounts=20, seed=4, data_file=data_file) as second:
        token = second.credentials["access_token"]
        found = requests.get(
            f"{second.base_url}/crm/v3/properties/companies/kam_score",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert found.status_code == 200
        assert found.json()["type"] == "number"


def test_an_unknown_crm_is_refused() -> None:
    with pytest.raises(ValueError, match="crm must be"), running_sandbox("dynamics"):  # type: ignore[arg-type]
        pass


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_sigint_stops_serve_cleanly() -> None:
    process = _serve("--crm", "hubspot", "--accounts", "5")
    assert process.stdout is not None
    json.loads(process.stdout.readline())
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0


def test_serve_refuses_a_data_file_that_is_not_one(tmp_path: Path) -> None:
    data_file = tmp_path / "org.json"
    data_file.write_text('{"crm": "something else"}')
    process = _serve("--crm", "salesforce", "--accounts", "5", "--data", str(data_file))
    assert process.wait(timeout=60) == 2
    assert process.stderr is not None
    assert "not a Salesforce sandbox data file" in process.stderr.read()
