"""Imports go down the layers: config never imports the rules engine (the rule files' models
and loader live in config), and errors never imports config (``ConfigIssue`` lives below both).
Checked on the source, lazy and TYPE_CHECKING imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import kam_sync

PACKAGE = Path(kam_sync.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_config_imports_nothing_from_the_layers_above_it() -> None:
    above = ("kam_sync.rules", "kam_sync.engine", "kam_sync.store", "kam_sync.cli")
    offending = {
        str(path.relative_to(PACKAGE)): sorted(
            m for m in imported_modules(path) if m.startswith(above)
        )
        for path in (PACKAGE / "config").rglob("*.py")
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_errors_and_issues_import_nothing_from_config() -> None:
    for name in ("errors.py", "issues.py"):
        found = [m for m in imported_modules(PACKAGE / name) if m.startswith("kam_sync.config")]
        assert found == [], name
