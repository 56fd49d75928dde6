"""The field kam-sync stamps with every change is named for what it holds: when the account's
KAM values last changed (a run that changes nothing leaves it), not when the sync last ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from kam_sync.config.loader import load_project
from kam_sync.engine.provisioning import field_specs
from tests.conftest import init_project


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_the_default_mapping_provisions_the_stamp_as_last_changed(tmp_path: Path, crm: str) -> None:
    project = load_project(init_project(tmp_path / crm, crm))
    [spec] = [s for s in field_specs(project.mapping) if "last_assessed" in s.name.lower()]
    assert spec.label.lower() == "kam last changed"
    assert "last changed" in spec.description
    assert "Runs that change nothing leave it" in spec.description
