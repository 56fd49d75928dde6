"""`kam-sync doctor` says what would stop a first run, each with its fix, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.crm import kam_sync_cli, sandbox_project, write_requests


@pytest.mark.slow
@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_doctor_names_each_problem_with_its_fix_exits_2_and_writes_nothing(
    crm: str, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    with sandbox_project(crm, project, accounts=10, kam_inputs=False) as (handle, env):
        if crm == "salesforce":
            permissions = handle.app.store.table("UserPermissionAccess")
            next(iter(permissions.values()))["PermissionsApiEnabled"] = False
        else:
            handle.app.scopes = tuple(
                s for s in handle.app.scopes if s != "crm.objects.companies.write"
            )
        handle.reset_stats()

        result = kam_sync_cli("doctor", "--project", str(project), env=env, cwd=tmp_path)

        assert result.returncode == 2, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        if crm == "salesforce":
            assert any(line.startswith("FAIL  permission API Enabled") for line in lines)
        else:
            assert any(
                line.startswith("FAIL  scopes") and "crm.objects.companies.write" in line
                for line in lines
            )
        assert any(line.startswith("ok    connection") for line in lines)
        assert any(line.startswith("ok    API budget") for line in lines)
        # The new org lacks the KAM fields: each is named, with the fix.
        missing = [line for line in lines if line.startswith("FAIL  mapped field")]
        assert len(missing) >= 13 + 9
        assert "fix: run `kam-sync provision`" in result.stdout
        stats = handle.stats()
        assert write_requests(stats) == 0
        assert not stats["requests"].get("tooling", {}).get("POST")
        assert not stats["requests"].get("metadata")


@pytest.mark.slow
def test_doctor_reports_a_refused_login_with_the_flow_and_its_fix(tmp_path: Path) -> None:
    project = tmp_path / "project"
    with sandbox_project("salesforce", project, accounts=5) as (_, env):
        env["KAM_SYNC_SF_CLIENT_SECRET"] = "wrong"
        result = kam_sync_cli("doctor", "--project", str(project), env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "FAIL  auth: client_credentials against https://" in result.stdout
    assert "fix: enable the client credentials flow" in result.stdout
    assert "wrong" not in result.stdout + result.stderr
