"""Every broken config in tests/fixtures/broken_configs is reported at its file, line and column.

Each case starts from a project made by `kam-sync init`, applies text edits to its files, and
lists the errors `load_project` must report. ``at`` names text whose line (and, with ``col``, its
column) the error must point at; ``contains`` is part of the message; ``absent`` must not appear
anywhere in the output (secrets are never echoed).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from kam_sync.config.loader import load_project
from kam_sync.default_files import default_files
from kam_sync.errors import ConfigError
from tests.conftest import init_project

CASES_DIR = Path(__file__).parents[2] / "fixtures" / "broken_configs"
CASES = sorted(CASES_DIR.glob("*.yaml"))


def _apply(project: Path, case: dict[str, Any]) -> None:
    if "copy_default_mapping" in case:
        name = f"{case['copy_default_mapping']}.yaml"
        shutil.copy(default_files("mappings")[name], project / "mappings" / name)
    for rel, edits in case.get("replace", {}).items():
        path = project / rel
        text = path.read_text(encoding="utf-8")
        for old, new in edits:
            assert old in text, f"case edit does not apply to {rel}: {old!r}"
            text = text.replace(old, new, 1)
        path.write_text(text, encoding="utf-8")


def _line_col_of(path: Path, needle: str) -> tuple[int, int]:
    """Line and column of ``needle``: a whole line equal to it first, else the first line holding it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if line == needle:
            return number, 1
    for number, line in enumerate(lines, start=1):
        if needle in line and not line.lstrip().startswith("#"):
            return number, line.index(needle) + 1
    raise AssertionError(f"{needle!r} not found in {path}")


@pytest.mark.parametrize("case_path", CASES, ids=[p.stem for p in CASES])
def test_broken_config_is_reported_at_its_place(tmp_path: Path, case_path: Path) -> None:
    case = yaml.safe_load(case_path.read_text(encoding="utf-8"))
    project = init_project(tmp_path / "p", case.get("crm", "salesforce"))
    _apply(project, case)

    with pytest.raises(ConfigError) as raised:
        load_project(project)

    issues = raised.value.issues
    output = str(raised.value)
    for expected in case["expect"]:
        path = (project / expected["file"]).resolve()
        candidates = [i for i in issues if i.file == path and expected["contains"] in i.message]
        assert candidates, f"no error containing {expected['contains']!r} in {path}; got:\n{output}"
        issue = candidates[0]
        if "at" in expected:
            line, _col = _line_col_of(path, expected["at"])
            assert issue.line == line, f"expected line {line}, got {issue}"
            if "col" in expected:
                assert issue.col == expected["col"], (
                    f"expected column {expected['col']}, got {issue}"
                )
        if "also" in expected:
            assert expected["also"] in issue.message
        if "absent" in expected:
            assert expected["absent"] not in output, "a secret value was echoed"


def test_the_corpus_has_at_least_25_cases() -> None:
    assert len(CASES) >= 25


def test_a_fresh_project_validates(salesforce_project: Path) -> None:
    project = load_project(salesforce_project)
    assert project.config.crm.type == "salesforce"
    assert "kam_tier" in project.mapping.write_back


def test_a_fresh_hubspot_project_validates(hubspot_project: Path) -> None:
    project = load_project(hubspot_project)
    assert project.mapping.objects.account.crm_object == "companies"
