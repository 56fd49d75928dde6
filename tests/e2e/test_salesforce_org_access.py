"""Salesforce as a real org behaves, end to end: fields an admin created without field-level
security for the integration user, /limits refused, client credentials off My Domain."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kam_sync.config.loader import load_project
from kam_sync.engine.provisioning import field_specs
from kam_sync_connectors.salesforce.provision import field_metadata
from tests.e2e.crm import KAM_FIELDS, CrmHands, kam_sync_cli, sandbox_project

SF_API = "/services/data/v62.0"


def bare_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("KAM_SYNC_")}


@pytest.mark.slow
def test_provision_adopts_fields_an_admin_created_without_access_and_the_run_writes(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    with sandbox_project("salesforce", project, accounts=80, seed=41) as (handle, env):
        hands = CrmHands.connect("salesforce", handle)
        # An admin created the KAM fields in Setup: no field-level security for the integration
        # user, so they are missing from its describe, and no kam-sync mark in the description.
        for spec in field_specs(load_project(project).mapping):
            metadata = {**field_metadata(spec), "description": "created in Setup"}
            created = hands.session.post(
                f"{handle.base_url}{SF_API}/tooling/sobjects/CustomField",
                json={"FullName": f"{spec.object_name}.{spec.name}", "Metadata": metadata},
                timeout=30,
            )
            assert created.status_code == 201, created.text
        hidden = hands.session.get(
            f"{handle.base_url}{SF_API}/sobjects/Account/describe", timeout=30
        ).json()
        assert not {f["name"] for f in hidden["fields"]} & set(KAM_FIELDS["salesforce"])

        provisioned = kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path)
        assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
        assert "DUPLICATE_DEVELOPER_NAME" not in provisioned.stdout + provisioned.stderr

        run = kam_sync_cli("run", "--json", "--project", str(project), env=env, cwd=tmp_path)
        assert run.returncode in (0, 3), run.stderr
        summary = json.loads(run.stdout)
        assert summary["status"] == "ok", summary
        assert summary["write_failures"] == 0
        assert summary["accounts_written"] > 0
        written = [v for v in hands.kam_values().values() if v["KAM_Tier__c"] is not None]
        assert len(written) > 0


@pytest.mark.slow
def test_a_run_without_the_limits_permission_runs_and_says_where_the_quota_came_from(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    with sandbox_project("salesforce", project, accounts=40, seed=42) as (handle, env):
        provisioned = kam_sync_cli("provision", "--project", str(project), env=env, cwd=tmp_path)
        assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
        handle.app.limits_permission = False

        run = kam_sync_cli("run", "--project", str(project), env=env, cwd=tmp_path)

        assert run.returncode in (0, 3), run.stdout + run.stderr
        output = run.stdout + run.stderr
        assert "from the Sforce-Limit-Info header)" in output
        assert output.count("GET /limits was refused") == 1
        assert f"/{handle.app.daily_api_limit}, from the" in output


def test_validate_refuses_client_credentials_on_login_salesforce_com_with_the_fix(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    created = kam_sync_cli(
        "init", str(project), "--crm", "salesforce", env=bare_env(), cwd=tmp_path
    )
    assert created.returncode == 0, created.stderr
    config = project / "kam-sync.yaml"
    config.write_text(config.read_text().replace("auth: jwt", "auth: client_credentials"))

    result = kam_sync_cli("validate", "--project", str(project), env=bare_env(), cwd=tmp_path)

    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert "kam-sync.yaml:" in output
    assert "set login_url to your My Domain URL, https://yourcompany.my.salesforce.com" in output
