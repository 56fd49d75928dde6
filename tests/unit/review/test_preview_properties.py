"""Properties of the impact preview over random portfolios (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kam_sync.engine.preview import Portfolio, compare
from tests.unit.rules.portfolio import AS_OF, accounts_frame, history_from, opportunities_frame

from .test_preview import _pack

FITS = {"low": 0.0, "medium": 0.5, "high": 1.0}
accounts = st.lists(
    st.tuples(st.integers(0, 100), st.sampled_from(sorted(FITS))), min_size=1, max_size=40
)
weights = st.sampled_from([0.5, 1.0, 2.0, 3.0, 7.0])


def _portfolio(rows: list[tuple[int, str]]) -> Portfolio:
    return Portfolio(
        accounts=accounts_frame(
            [
                {"id": f"A{i:03d}", "name": f"n{i}", "contacts_engaged": c, "strategic_fit": f}
                for i, (c, f) in enumerate(rows)
            ]
        ),
        opportunities=opportunities_frame([]),
        history=history_from(None),
        as_of=AS_OF,
    )


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=accounts, weight=weights)
def test_the_same_pack_on_both_sides_moves_no_account(
    rows: list[tuple[int, str]], weight: float
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        pack = _pack(Path(folder) / "p", weight)
        preview = compare(_portfolio(rows), pack, pack).to_json()
    assert preview["tier_changes"] == [] and preview["score_changes"] == 0
    assert preview["stage_matrix"] == {} and preview["checklist"]["changed"] == 0


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=accounts, before=weights, after=weights)
def test_a_weight_change_moves_only_accounts_whose_factors_differ(
    rows: list[tuple[int, str]], before: float, after: float
) -> None:
    # Score = (w x relationships + fit) / (w + 1): changing w moves it only where the two
    # factor scores differ; where they are equal the score is that value whatever w is.
    with tempfile.TemporaryDirectory() as folder:
        current = _pack(Path(folder) / "a", before)
        proposed = _pack(Path(folder) / "b", after)
        portfolio = _portfolio(rows)
        preview = compare(portfolio, current, proposed).to_json()
        scores = portfolio.assess(proposed).assessments
    equal = {f"A{i:03d}" for i, (c, f) in enumerate(rows) if abs(c / 100 - FITS[f]) < 1e-12}
    moved = {c["account_id"] for c in preview["tier_changes"]}
    assert not moved & equal
    if before == after:
        assert preview["score_changes"] == 0
    unchanged = scores.filter(scores["account_id"].is_in(sorted(equal)))
    for row in unchanged.iter_rows(named=True):
        i = int(row["account_id"][1:])
        assert abs(row["score"] - rows[i][0]) < 0.01
