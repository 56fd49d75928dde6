"""The last gaps in config messages: bytes that are not UTF-8, files named in kam-sync.yaml that
cannot be opened, a kam-sync.yaml that is a folder, and validate's webhook URL check. Each is
reported at a line and column a person can open, never as Python's byte offset."""

from __future__ import annotations

from pathlib import Path

import pytest

from kam_sync.cli.main import main
from kam_sync.config.loader import load_project
from kam_sync.errors import ConfigError
from tests.conftest import init_project


def _issues(project: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_project(project)
    return [str(issue) for issue in raised.value.issues]


def test_a_byte_that_is_not_utf8_is_reported_at_its_line_and_column(tmp_path: Path) -> None:
    project = init_project(tmp_path / "p")
    path = project / "rules" / "governance.yaml"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    # Line 5 gets a Latin-1 "é" (one byte 0xe9) after four UTF-8 characters, one of them "ü".
    lines[4] = "# Zü" + "\n"
    raw = "".join(lines).encode("utf-8").replace("# Zü\n".encode(), b"# Z\xc3\xbc\xe9\n")
    path.write_bytes(raw)

    [issue] = [i for i in _issues(project) if "governance.yaml" in i]

    assert issue.startswith(f"{path}:5:5: the file is not UTF-8: byte e9 cannot be read here")
    assert "position" not in issue


def test_a_missing_mapping_file_is_reported_at_the_line_that_names_it(tmp_path: Path) -> None:
    project = init_project(tmp_path / "p")
    (project / "mappings" / "salesforce.yaml").unlink()
    lines = (project / "kam-sync.yaml").read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text.startswith("mapping:"))

    assert _issues(project) == [
        f"{project / 'kam-sync.yaml'}:{line}:10: mapping: mappings/salesforce.yaml: file not found"
    ]


def test_a_mapping_path_that_is_a_folder_says_so_at_its_line(tmp_path: Path) -> None:
    project = init_project(tmp_path / "p")
    path = project / "kam-sync.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "mapping: mappings/salesforce.yaml", "mapping: mappings"
        ),
        encoding="utf-8",
    )
    [issue] = _issues(project)
    assert issue.endswith("mapping: mappings: is a folder, not a file")
    assert issue.startswith(f"{path}:")


def test_a_rule_file_missing_at_its_default_path_names_the_key_it_defaults(tmp_path: Path) -> None:
    project = init_project(tmp_path / "p")
    path = project / "kam-sync.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  checklist: rules/checklist.yaml\n", ""), encoding="utf-8")
    (project / "rules" / "checklist.yaml").unlink()

    issues = [i for i in _issues(project) if "checklist.yaml" in i]

    assert issues == [
        f"{project / 'rules' / 'checklist.yaml'}: file not found "
        "(the default of rules.checklist in kam-sync.yaml)"
    ]


def test_a_project_file_that_is_a_folder_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "kam-sync.yaml").mkdir()

    assert main(["validate", "--project", str(tmp_path)]) == 2

    err = capsys.readouterr().err
    assert "kam-sync.yaml is a folder, not the project file" in err
    assert "no kam-sync.yaml here" not in err


def test_a_relative_ca_bundle_is_found_under_the_project_folder(tmp_path: Path) -> None:
    project = init_project(tmp_path / "p")
    pem = Path(__import__("certifi").where()).read_text(encoding="ascii")
    (project / "certs").mkdir()
    (project / "certs" / "ca.pem").write_text(pem, encoding="ascii")
    path = project / "kam-sync.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "    timeout_seconds: 60\n", "    timeout_seconds: 60\n    ca_bundle: certs/ca.pem\n"
        ),
        encoding="utf-8",
    )

    loaded = load_project(project)

    settings = loaded.config.connector_settings()
    assert getattr(settings, "ca_bundle") == project.resolve() / "certs" / "ca.pem"  # noqa: B009


def _with_webhook(project: Path) -> None:
    path = project / "kam-sync.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "  - type: log\n", "  - type: log\n  - type: webhook\n    url_env: KAM_TEST_HOOK\n"
        ),
        encoding="utf-8",
    )


def test_validate_refuses_a_webhook_variable_holding_no_url_and_names_only_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = init_project(tmp_path / "p")
    _with_webhook(project)
    monkeypatch.setenv("KAM_TEST_HOOK", "not a url s3cret")

    assert main(["validate", "--offline", "--project", str(project)]) == 2

    out, err = capsys.readouterr()
    lines = (project / "kam-sync.yaml").read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "url_env: KAM_TEST_HOOK" in text)
    assert (
        f"kam-sync.yaml:{line}:14: url_env: the variable KAM_TEST_HOOK does not hold a URL" in err
    )
    assert "s3cret" not in out + err
    assert "valid" not in out, "never 'valid' followed by an error"


def test_validate_accepts_an_https_webhook_and_notes_an_unset_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = init_project(tmp_path / "p")
    _with_webhook(project)
    monkeypatch.setenv("KAM_TEST_HOOK", "https://hooks.slack.com/services/T0/B0/s3cret")
    assert main(["validate", "--offline", "--project", str(project)]) == 0
    assert "s3cret" not in capsys.readouterr().out

    monkeypatch.delenv("KAM_TEST_HOOK")
    assert main(["validate", "--offline", "--project", str(project)]) == 0
    assert "KAM_TEST_HOOK is not set here" in capsys.readouterr().out
