"""Broken rule files are reported at file:line:col with a message that says what is allowed.

Each file in ./broken names the rule file it replaces (``# kind: scoring``) and the issues
expected in it (``# expect: line:col: message start``), exactly and nothing else. The other
three files come from the default pack.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kam_sync.config.issues import ConfigIssue
from kam_sync.rules import load_rule_pack

from .portfolio import default_files

BROKEN = Path(__file__).resolve().parent / "broken"
BROKEN_FILES = sorted(BROKEN.glob("*.yaml"))
_EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")


def _expectations(path: Path) -> tuple[str, list[tuple[int, int, str]]]:
    kind = ""
    expected: list[tuple[int, int, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# kind: "):
            kind = line.removeprefix("# kind: ").strip()
        elif match := _EXPECT.match(line):
            expected.append((int(match[1]), int(match[2]), match[3]))
    assert kind and expected, f"{path.name} needs '# kind:' and '# expect:' lines"
    return kind, expected


def _issues_in(path: Path, issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return [i for i in issues if i.file is not None and Path(i.file) == path]


@pytest.mark.parametrize("path", BROKEN_FILES, ids=[p.stem for p in BROKEN_FILES])
def test_broken_rule_file_is_reported_at_its_line(path: Path) -> None:
    kind, expected = _expectations(path)
    files = default_files()
    files[kind] = path
    pack, issues = load_rule_pack(files)
    assert pack is None, "invalid rules must never reach a run"
    found = _issues_in(path, issues)
    assert len(found) == len(expected), "\n".join(str(i) for i in found)
    for (line, col, message), issue in zip(
        expected, sorted(found, key=ConfigIssue.sort_key), strict=True
    ):
        assert (issue.line, issue.col) == (line, col), str(issue)
        assert issue.message.startswith(message), str(issue)


def test_every_error_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    files = default_files()
    scoring = tmp_path / "scoring.yaml"
    text = (BROKEN / "scoring_unknown_input.yaml").read_text(encoding="utf-8")
    scoring.write_text(text.replace("low: 10000, high: 2000000", "low: 5, high: 1"), "utf-8")
    files["scoring"] = scoring
    files["checklist"] = BROKEN / "checklist_duplicate_question_id.yaml"
    pack, issues = load_rule_pack(files)
    assert pack is None
    messages = [str(i) for i in issues]
    assert any("scoring.yaml:7:9: unknown input 'won_amount_12'" in m for m in messages)
    assert any("scoring.yaml:8:41: thresholds out of order" in m for m in messages)
    assert any("duplicate question id 'our_team_01'" in m for m in messages)


def test_a_missing_rule_file_is_reported_by_name() -> None:
    files = default_files()
    files["stages"] = BROKEN / "no_such_file.yaml"
    pack, issues = load_rule_pack(files)
    assert pack is None
    assert [str(i) for i in issues] == [f"{BROKEN / 'no_such_file.yaml'}: file not found"]


def test_an_unconfigured_rule_file_is_reported() -> None:
    files = default_files()
    del files["checklist"]
    pack, issues = load_rule_pack(files)
    assert pack is None
    assert [i.message for i in issues] == ["rule file 'checklist' is not configured"]
