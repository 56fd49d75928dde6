"""A YAML tag kam-sync cannot read is a problem at its line and column, never a crash."""

from __future__ import annotations

from pathlib import Path

from kam_sync.config.loader import load_project
from kam_sync.config.located import load_located
from kam_sync.errors import ConfigError
from tests.conftest import init_project


def problems(text: str) -> list[tuple[int | None, int | None, str]]:
    doc, issues = load_located(Path("kam-sync.yaml"), text)
    assert doc is not None
    return [(i.line, i.col, i.message) for i in issues]


def test_an_unknown_tag_is_reported_where_it_stands() -> None:
    assert problems("a: 1\nb: !secret x\n") == [
        (2, 4, "unknown YAML tag '!secret'; write the value without a tag")
    ]


def test_a_value_that_does_not_fit_its_tag_is_reported_where_it_stands() -> None:
    assert problems("a: !!int abc\nb: !!timestamp soon\nc: !!str 5\n") == [
        (1, 4, "the value does not fit its YAML tag '!!int'"),
        (2, 4, "the value does not fit its YAML tag '!!timestamp'"),
    ]


def test_a_key_with_an_unknown_tag_is_reported_once_and_the_rest_is_read() -> None:
    doc, issues = load_located(Path("kam-sync.yaml"), "!k a: 1\nb: 2\n")
    assert doc is not None and doc.data == {"b": 2}
    assert [(i.line, i.col, i.message) for i in issues] == [
        (1, 1, "unknown YAML tag '!k'; write the value without a tag")
    ]


def test_validate_reports_an_unknown_tag_as_a_config_error(tmp_path: Path) -> None:
    project = init_project(tmp_path / "p")
    config = project / "kam-sync.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("\nversion: 1", "\nversion: !one 1", 1), encoding="utf-8")
    try:
        load_project(project)
    except ConfigError as exc:
        found = [(i.file, i.message) for i in exc.issues]
    else:
        raise AssertionError("the tag was accepted")
    assert (config, "unknown YAML tag '!one'; write the value without a tag") in found
