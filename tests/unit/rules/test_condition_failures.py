"""A rule condition that fails on a run's data stops the assessment with a config error at its
file:line, never with polars' traceback and never with the CRM's values in the message.

The samples tried when the rules load catch such conditions (see tests/unit/config); to reach
the run-time guard, these tests narrow the samples to text that is a number, as a value the
samples did not foresee would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kam_sync.config import condition_samples
from kam_sync.errors import ConfigError, ExitCode
from kam_sync.rules import GovernanceHistory, assess_portfolio

from .portfolio import AS_OF, accounts_frame, default_files, opportunities_frame, pack_with


@pytest.fixture
def numeric_text_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(condition_samples, "TEXT_SAMPLES", (None, "12", "7"))


def _line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


def test_a_checklist_condition_failing_on_a_value_names_its_line(
    tmp_path: Path, numeric_text_samples: None
) -> None:
    condition = "CAST(industry AS INTEGER) > 1000"
    pack = pack_with(
        {
            "checklist": {
                "categories": {
                    "needs": {
                        "title": "Needs",
                        "questions": [{"id": "needs_01", "text": "?", "evidence": condition}],
                    }
                }
            }
        },
        tmp_path,
    )
    accounts = accounts_frame(
        [{"id": "A", "industry": "4711"}, {"id": "B", "industry": "Secret Industry"}]
    )
    with pytest.raises(ConfigError) as raised:
        assess_portfolio(accounts, opportunities_frame([]), GovernanceHistory.empty(), pack, AS_OF)
    error = raised.value
    assert error.exit_code == ExitCode.CONFIG_ERROR
    checklist = tmp_path / "checklist.yaml"
    [issue] = error.issues
    assert (issue.file, issue.line) == (checklist, _line_of(checklist, "evidence:"))
    assert "condition failed on the CRM data of this run" in issue.message
    assert "TRY_CAST" in issue.message
    assert "Secret Industry" not in str(error)


def test_a_tier_condition_failing_on_a_value_names_its_line(
    tmp_path: Path, numeric_text_samples: None
) -> None:
    pack = pack_with(
        {"scoring": _default_scoring_with_first_tier_when("CAST(country AS INTEGER) = 49")},
        tmp_path,
    )
    accounts = accounts_frame([{"id": "A", "country": "Germany"}])
    with pytest.raises(ConfigError) as raised:
        assess_portfolio(accounts, opportunities_frame([]), GovernanceHistory.empty(), pack, AS_OF)
    scoring = tmp_path / "scoring.yaml"
    [issue] = raised.value.issues
    assert (issue.file, issue.line) == (scoring, _line_of(scoring, "CAST(country"))


def test_conditions_that_hold_for_every_value_assess_as_before(
    tmp_path: Path, numeric_text_samples: None
) -> None:
    pack = pack_with(
        {"scoring": _default_scoring_with_first_tier_when("TRY_CAST(country AS INTEGER) = 49")},
        tmp_path,
    )
    accounts = accounts_frame([{"id": "A", "country": "49"}, {"id": "B", "country": "Germany"}])
    result = assess_portfolio(
        accounts, opportunities_frame([]), GovernanceHistory.empty(), pack, AS_OF
    )
    tiers = dict(result.assessments.select("account_id", "tier").iter_rows())
    assert tiers["A"] == "strategic" and tiers["B"] != "strategic"


def _default_scoring_with_first_tier_when(condition: str) -> dict[str, object]:
    """The default scoring file whose first tier is reached by ``condition`` alone."""
    data = yaml.safe_load(default_files()["scoring"].read_text(encoding="utf-8"))
    data["tiers"][0] = {"name": data["tiers"][0]["name"], "when": condition}
    return dict(data)
