"""The project files are parsed by libyaml's composer when PyYAML has it, and every value, every
position and every problem reported is what PyYAML's own reader gives (issue 14, point 5: the
files are parsed at every start of a run)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from kam_sync.config import located
from kam_sync.config.located import load_located
from kam_sync.default_files import default_files
from tests.conftest import init_project
from tests.unit.config.test_broken_configs import CASES, _apply

pytestmark = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml")

FIXTURES = Path(__file__).parents[2] / "fixtures"
SHIPPED = [*default_files("mappings").values(), *default_files("rules").values()]
FIXTURE_FILES = sorted(FIXTURES.rglob("*.yaml"))

# Texts the two readers read differently, each with what PyYAML's own reader says of it.
READ_DIFFERENTLY = {
    "a tab after a colon (PyYAML refuses it)": "a:\t1\nb: 2\n",
    "a tab indenting a key": "a:\n\tb: 1\n",
    "an empty value in a flow mapping (libyaml: one column later)": "x: {a: , b: 1}\ny: 2\n",
    "an empty value at the end of a flow mapping": "x: {a:  }\n",
    "an empty value of a pair in a flow list": "x: [a: , b]\n",
    "a question mark in a word in a flow mapping (PyYAML refuses it)": "x: {i?d: 1}\n",
    "a question mark in a word in a flow list": "x: [a?b, c]\n",
    "a byte order mark starting a later line": "a: 1\n\ufeffb: 2\n",
    "a byte order mark in a value": "a: x\ufeffy\nb: 2\n",
    "a colon right after a key in a flow mapping (libyaml refuses it)": "x: {a:, b: 1}\n",
    "a comment straight after a block scalar's header (PyYAML refuses it)": "a: >#x\n  b\nc: 1\n",
    "the same after a chomping indicator": "a: |-#x\n  b\n",
    "a value after a value (messages differ)": "a: b: c\n",
    "two documents (messages differ)": "a: 1\n---\nb: 2\n",
    "a control character (messages differ)": "a: \x07\n",
    "an unclosed list": "a: [1, 2\nb: 3\n",
}
# Texts both read alike: libyaml is used, and must give the same result.
READ_ALIKE = {
    "block values, empty ones included": "a:\nb: 1\nc:   # note\nd:\n  -\n  - x\n",
    "flow collections": "a: {b: 1, c: [x, 'y z', \"w\"]}\nd: [1, 2.5, true, null, ~]\n",
    "anchors, aliases and merge keys": "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\nd: *b\n",
    "block scalars": "a: |\n  x\n  y\nb: >-\n  z\n",
    "line ends of every kind": "a: 1\r\nb: 2\rc: 3\n",
    "wide and astral characters": "ａ: 1\nb😀: 'üñ😀x'\nc: [😀, é]\n",
    "a byte order mark at the start": "\ufeffa: 1\nb: 2\n",
    "a duplicate key": "a: 1\nb: 2\na: 3\n",
    "a key that is a list": "? [a, b]\n: 1\nc: 2\n",
    "a question mark in a block word": "a: what?\nb?: 1\n",
    "empty": "",
    "only a comment": "# nothing\n",
}


def outcome(path: Path, text: str, *, libyaml: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    """What load_located reports of ``text``: data, positions and problems."""
    with monkeypatch.context() as patch:
        if not libyaml:
            patch.setattr(located, "LIBYAML_LOADER", None)
        doc, issues = load_located(path, text)
    found = [(i.line, i.col, i.message) for i in issues]
    if doc is None:
        return None, found
    return doc.data, doc.value_positions, doc.key_positions, found


def assert_read_alike(path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with_libyaml = outcome(path, text, libyaml=True, monkeypatch=monkeypatch)
    without = outcome(path, text, libyaml=False, monkeypatch=monkeypatch)
    assert with_libyaml == without, path


def key_positions(text: str, loader: Any) -> list[tuple[str, int, int]]:
    """Every mapping key with the line and column its node starts at, in document order."""
    found: list[tuple[str, int, int]] = []

    def walk(node: yaml.Node) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                found.append((str(key.value), key.start_mark.line, key.start_mark.column))
                walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)

    root = yaml.compose(text, Loader=loader)
    if root is not None:
        walk(root)
    return found


@pytest.mark.parametrize("path", SHIPPED + FIXTURE_FILES, ids=lambda p: p.name)
def test_both_readers_put_every_key_of_a_shipped_file_at_the_same_line_and_column(
    path: Path,
) -> None:
    text = path.read_text(encoding="utf-8")
    assert key_positions(text, yaml.CSafeLoader) == key_positions(text, yaml.SafeLoader)


@pytest.mark.parametrize("path", SHIPPED + FIXTURE_FILES, ids=lambda p: p.name)
def test_a_shipped_file_reads_the_same_with_and_without_libyaml(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_read_alike(path, path.read_text(encoding="utf-8"), monkeypatch)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_shipped_files_are_composed_by_libyaml(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    composed_by: list[Any] = []
    real_compose = yaml.compose

    def compose(text: str, Loader: Any) -> Any:
        composed_by.append(Loader)
        return real_compose(text, Loader=Loader)

    monkeypatch.setattr(yaml, "compose", compose)
    load_located(path)
    assert composed_by == [yaml.CSafeLoader]


@pytest.mark.parametrize("text", READ_DIFFERENTLY.values(), ids=READ_DIFFERENTLY.keys())
def test_a_text_libyaml_reads_differently_is_reported_as_pyyaml_reads_it(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_read_alike(Path("kam-sync.yaml"), text, monkeypatch)


@pytest.mark.parametrize("text", READ_ALIKE.values(), ids=READ_ALIKE.keys())
def test_a_text_both_read_alike_gives_the_same_values_positions_and_problems(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_read_alike(Path("kam-sync.yaml"), text, monkeypatch)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_every_broken_config_reads_the_same_with_and_without_libyaml(
    case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = yaml.safe_load(case.read_text(encoding="utf-8"))
    project = init_project(tmp_path / "p", spec.get("crm", "salesforce"))
    _apply(project, spec)
    for path in sorted(project.rglob("*.yaml")):
        assert_read_alike(path, path.read_text(encoding="utf-8"), monkeypatch)


# Characters and pieces whose insertion changes how YAML is read.
EDITS = [*":-?,[]{}#&*!|>'\"%@` \n\\.\t\r", "  ", "- ", ": ", "---", "...", "<<", "é", "\u2028"]


def test_edited_shipped_files_read_the_same_with_and_without_libyaml(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Random small edits (seeded: the same every run) find the places where the two readers
    # part; each one found so far is in READ_DIFFERENTLY.
    rng = random.Random(14)
    texts = [(p, p.read_text(encoding="utf-8")) for p in SHIPPED + FIXTURE_FILES]
    for _ in range(600):
        path, text = rng.choice(texts)
        for _edit in range(rng.randint(1, 3)):
            at = rng.randrange(len(text) + 1)
            if rng.random() < 0.6:
                text = text[:at] + rng.choice(EDITS) + text[at:]
            else:
                text = text[:at] + text[at + rng.randint(1, 3) :]
        assert_read_alike(path, text, monkeypatch)
