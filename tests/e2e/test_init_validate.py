"""`kam-sync init` and `kam-sync validate` run as a user runs them: as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.e2e.crm import kam_sync_cli, sandbox_project

REPO = Path(__file__).resolve().parents[2]


def kam_sync(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("kam-sync", path=str(Path(sys.executable).parent)) or "kam-sync"
    return subprocess.run(
        [exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    from kam_sync import __version__

    result = kam_sync("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"kam-sync {__version__}"


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_init_then_validate_succeeds(tmp_path: Path, crm: str) -> None:
    result = kam_sync("init", "demo", "--crm", crm, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "demo"
    for rel in (
        "kam-sync.yaml",
        f"mappings/{crm}.yaml",
        "rules/scoring.yaml",
        "rules/governance.yaml",
        "rules/checklist.yaml",
        "rules/stages.yaml",
        "schemas/kam-sync.schema.json",
        "schemas/mapping.schema.json",
        "schemas/scoring.schema.json",
    ):
        assert (project / rel).is_file(), rel
    # The files point editors at their schema.
    assert (
        (project / "kam-sync.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=schemas/kam-sync.schema.json")
    )
    assert (
        (project / "rules/scoring.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=../schemas/scoring.schema.json")
    )
    result = kam_sync("validate", "--project", "demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    assert kam_sync("init", "demo", cwd=tmp_path).returncode == 0
    (tmp_path / "demo" / "kam-sync.yaml").write_text("# my edits\n")
    refused = kam_sync("init", "demo", cwd=tmp_path)
    assert refused.returncode == 1
    assert "refusing to overwrite" in refused.stderr
    assert (tmp_path / "demo" / "kam-sync.yaml").read_text() == "# my edits\n"
    forced = kam_sync("init", "demo", "--force", cwd=tmp_path)
    assert forced.returncode == 0
    assert "crm:" in (tmp_path / "demo" / "kam-sync.yaml").read_text()


def test_validate_lists_every_error_and_exits_2(tmp_path: Path) -> None:
    assert kam_sync("init", "demo", cwd=tmp_path).returncode == 0
    project_file = tmp_path / "demo" / "kam-sync.yaml"
    text = project_file.read_text().replace("timezone: UTC", "timezone: Europe/Pariss")
    project_file.write_text(text.replace("  retry_limit: 5", "  retry_limit: 0"))
    result = kam_sync("validate", "--project", "demo", cwd=tmp_path)
    assert result.returncode == 2
    assert "2 configuration errors" in result.stderr
    assert "kam-sync.yaml:" in result.stderr
    assert "did you mean 'Europe/Paris'?" in result.stderr
    assert "retry_limit: must be greater than or equal to 1, got 0" in result.stderr


def test_validate_outside_a_project_says_how_to_create_one(tmp_path: Path) -> None:
    result = kam_sync("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert "kam-sync init" in result.stderr


def test_schema_writes_one_json_schema_per_file_kind(tmp_path: Path) -> None:
    result = kam_sync("schema", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(
        f"{k}.schema.json"
        for k in ("kam-sync", "mapping", "scoring", "governance", "checklist", "stages")
    )
    schema = json.loads((tmp_path / "out" / "kam-sync.schema.json").read_text())
    assert "crm" in schema["properties"]


def test_help_lists_only_working_commands(tmp_path: Path) -> None:
    result = kam_sync("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("init", "validate", "schema"):
        assert command in result.stdout


@pytest.mark.slow
def test_the_wheel_ships_the_defaults_and_init_works_outside_the_repo(tmp_path: Path) -> None:
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = list(wheel_dir.glob("kam_sync-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "kam_sync/defaults/mappings/salesforce.yaml",
        "kam_sync/defaults/mappings/hubspot.yaml",
        "kam_sync/defaults/rules/scoring.yaml",
        "kam_sync/defaults/rules/checklist.yaml",
        "kam_sync_connectors/base.py",
        "kam_sync/py.typed",
    ):
        assert expected in names, expected
    assert not any(n.startswith(("connectors/", "tests/", "mappings/")) for n in names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"}
    code = (
        "import sys, kam_sync.default_files as d; from kam_sync.cli.main import main;"
        "print(d.defaults_dir('rules')); sys.exit(main(['init', 'p']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert str(site) in result.stdout.splitlines()[0]
    assert (outside / "p" / "rules" / "checklist.yaml").is_file()


@pytest.mark.slow
def test_validate_checks_relation_paths_against_the_org(tmp_path: Path) -> None:
    project = tmp_path / "project"
    with sandbox_project("salesforce", project) as (_, env):
        mapping = project / "mappings" / "salesforce.yaml"
        text = mapping.read_text()
        text = text.replace("      industry: Industry\n", "      industry: Industy\n")
        text = text.replace(
            "      executive_sponsor: KAM_Executive_Sponsor__c\n",
            "      executive_sponsor: Owner.Nmae\n",
        )
        text = text.replace(
            "        crm: KAM_Team_Roles__c\n", "        crm: '@AccountTeamMember.Role'\n"
        )
        mapping.write_text(text)
        lines = text.splitlines()

        def line_of(fragment: str) -> int:
            return next(n for n, line in enumerate(lines, 1) if fragment in line)

        result = kam_sync_cli("validate", "--project", str(project), env=env, cwd=tmp_path)

    assert result.returncode == 2, result.stdout + result.stderr
    errors = result.stderr
    assert f"salesforce.yaml:{line_of('industry: Industy')}:" in errors
    assert "did you mean 'Industry'?" in errors
    assert f"salesforce.yaml:{line_of('Owner.Nmae')}:" in errors
    assert "User has no field Nmae (did you mean 'Name'?)" in errors
    assert f"salesforce.yaml:{line_of('team_roles:')}:" in errors  # the field's key
    assert "AccountTeamMember has no field Role" in errors
