"""Shared fixtures: a fresh project made by `kam-sync init`, as a user would make it."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from kam_sync.cli.main import main


def init_project(folder: Path, crm: str = "salesforce") -> Path:
    """Create a project with `kam-sync init` (in-process) and return its folder."""
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["init", str(folder), "--crm", crm])
    assert code == 0, "kam-sync init failed"
    return folder


@pytest.fixture
def salesforce_project(tmp_path: Path) -> Path:
    return init_project(tmp_path / "project", "salesforce")


@pytest.fixture
def hubspot_project(tmp_path: Path) -> Path:
    return init_project(tmp_path / "project", "hubspot")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests on the one PostgreSQL server share its database (and its advisory run lock): under
    pytest-xdist they run in one worker, one after another (``--dist loadgroup``)."""
    for item in items:
        if item.get_closest_marker("postgres") or "postgres" in item.nodeid:
            item.add_marker(pytest.mark.xdist_group("postgres"))
