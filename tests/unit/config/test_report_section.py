"""The `report` section of kam-sync.yaml: named bounds, and a history long enough for movers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kam_sync.config.report_section import ReportSection


def test_the_report_section_defaults_write_no_file_after_a_run() -> None:
    section = ReportSection()
    assert section.after_run is None
    assert (section.runs, section.top_movers, section.mover_window_days) == (30, 10, 30)
    assert section.score_history_days >= section.mover_window_days


def test_a_score_history_shorter_than_the_mover_window_is_refused() -> None:
    with pytest.raises(ValidationError, match="must be at least mover_window_days"):
        ReportSection(mover_window_days=60, score_history_days=30)


@pytest.mark.parametrize("key", ["runs", "top_movers", "mover_window_days", "score_history_days"])
def test_report_bounds_must_be_positive(key: str) -> None:
    with pytest.raises(ValidationError):
        ReportSection.model_validate({key: 0})
