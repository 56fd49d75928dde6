"""Backtest on a small fixed portfolio, every figure worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from kam_sync.engine.backtest import BacktestSettings, add_months, run_backtest
from kam_sync.rules import RulePack
from tests.unit.rules.portfolio import accounts_frame, opportunities_frame, pack_with

TIERS = [
    {"name": "strategic", "min_score": 80},
    {"name": "key", "min_score": 50},
    {"name": "emerging", "min_score": 45},
    {"name": "watchlist", "min_score": 20},
    {"name": "none"},
]


def _pack(folder: Path) -> RulePack:
    def band(column: str) -> dict[str, object]:
        return {"input": column, "scale": {"type": "linear_band", "low": 0, "high": 1000}}

    factors = {
        "current_revenue": {"weight": 1, "missing": "zero", "signals": [band("won_amount_12m")]},
        "growth_potential": {"weight": 1, "missing": "zero", "signals": [band("open_pipeline")]},
    }
    return pack_with(
        {
            "scoring": {
                "factors": factors,
                "classification": [{"name": "not_key"}],
                "tiers": TIERS,
            },
            "governance": {
                "cap": None,
                "growth_alert": None,
                "anti_flapping": {"promotion_margin": 0, "demotion_margin": 0, "demotion_runs": 1},
            },
        },
        folder,
    )


OLD = "2024-01-01T00:00:00Z"
ACCOUNTS = [
    {"id": "A", "name": "Acme", "created_at": OLD},
    {"id": "B", "name": "Bolt", "created_at": OLD, "tier_override": "strategic"},
    {"id": "C", "name": "Core", "created_at": OLD},
    {"id": "D", "name": "Dyna", "created_at": OLD},
    {"id": "E", "name": "Echo", "created_at": "2025-09-01T00:00:00Z"},  # did not exist yet
    {"id": "F", "name": "Fern", "created_at": OLD},
]


def _opp(
    oid: str, account: str, amount: int, created: str, closed: str, won: bool
) -> dict[str, object]:
    return {"id": oid, "account_id": account, "amount": amount, "created_at": f"{created}T00:00:00Z",
            "close_date": closed, "is_closed": True, "is_won": won, "probability": 100 if won else 0}  # fmt: skip


OPPORTUNITIES = [
    _opp("a1", "A", 800, "2025-01-01", "2025-03-01", True),  # won before: 12-month revenue
    _opp("a2", "A", 1000, "2025-05-01", "2025-10-01", True),  # open at the date, won after
    _opp("b1", "B", 600, "2025-04-01", "2025-05-01", True),
    _opp("b2", "B", 50, "2025-08-01", "2025-09-01", True),  # created after: outcome only
    _opp("c1", "C", 1000, "2025-06-01", "2025-08-01", False),  # open at the date, lost after
    _opp("d1", "D", 100, "2024-10-01", "2024-12-01", True),
    _opp("d2", "D", 2000, "2025-06-01", "2026-03-01", True),  # open at the date, won after
    _opp("e1", "E", 500, "2025-11-01", "2026-01-01", True),  # an account created later
    _opp("f1", "F", 300, "2026-07-01", "2026-08-01", True),  # after the horizon
]


@pytest.fixture
def result_json(tmp_path: Path) -> dict[str, object]:
    settings = BacktestSettings(
        as_of=date(2025, 6, 30),
        horizon_months=12,
        largest_share=0.4,
        open_probability=50,
        data_until=datetime(2026, 12, 1, tzinfo=UTC),
    )
    return run_backtest(
        accounts_frame(ACCOUNTS), opportunities_frame(OPPORTUNITIES), _pack(tmp_path), settings
    ).to_json()


def test_the_backtest_matches_the_figures_worked_out_by_hand(
    result_json: dict[str, object],
) -> None:
    r = result_json
    # As of 2025-06-30 (score = (won 12m / 1000 + open pipeline / 1000) / 2 x 100, capped):
    #   A  won 800, open 1000 (a2)     -> 90  strategic   outcome 1000 (a2)
    #   B  won 600                     -> 30  watchlist   outcome   50 (b2); its override is ignored
    #   C  open 1000 (c1)              -> 50  key         outcome    0 (lost)
    #   D  won 100, open 2000 (d2)     -> 55  key         outcome 2000 (d2)
    #   F  nothing                     ->  0  none        outcome    0 (f1 after the horizon)
    #   E  created after the date: not in the portfolio.
    assert r["accounts"] == 5
    assert r["opportunities_used"] == 6  # a1 a2 b1 c1 d1 d2
    assert r["horizon_end"] == "2026-06-30" and r["horizon_complete"] is True
    assert r["account_fields"] == "as_now"
    assert r["revenue"] == "3050.00"
    tiers = {t["tier"]: t for t in r["tiers"]}  # type: ignore[attr-defined]
    assert tiers["strategic"]["accounts"] == 1 and tiers["strategic"]["revenue_share"] == 0.3279
    assert tiers["strategic"]["lift"] == 1.64  # 0.3279 / 0.2
    assert (tiers["key"]["accounts"], tiers["key"]["revenue_share"], tiers["key"]["lift"]) == (
        2, 0.6557, 1.64,  # 2000 / 3050, over 2 of 5 accounts
    )  # fmt: skip
    assert tiers["emerging"]["lift"] is None
    assert tiers["watchlist"]["lift"] == 0.08  # 50 / 3050 = 0.0164, over 0.2
    assert tiers["none"]["revenue_share"] == 0.0
    rules, baseline = r["rules"], r["baseline"]
    assert isinstance(rules, dict) and isinstance(baseline, dict)
    # Key list A, C, D holds 3000 of 3050; the largest 40 % (2 accounts) are D and A.
    assert rules["key_accounts"] == 3 and rules["key_revenue_share"] == 0.9836
    assert (rules["precision"], rules["recall"]) == (0.6667, 1.0)
    assert rules["top_decile"] == {"accounts": 1, "revenue_share": 0.3279, "lift": 1.64}
    assert [row["revenue_share"] for row in rules["calibration"]] == [
        0.3279,
        0.6557,
        0.0,
        0.0164,
        0.0,
    ]
    # Baseline: the same number of accounts by 12-month revenue: A 800, B 600, D 100.
    assert baseline["key_accounts"] == 3 and baseline["key_revenue_share"] == 1.0
    assert (baseline["precision"], baseline["recall"]) == (0.6667, 1.0)
    assert baseline["top_decile"]["lift"] == 1.64
    notes = " ".join(r["notes"])  # type: ignore[arg-type]
    assert "Account fields are as they are now" in notes and "50.0 %" in notes


def test_a_horizon_reaching_past_the_data_says_it_is_not_complete(tmp_path: Path) -> None:
    settings = BacktestSettings(
        as_of=date(2026, 6, 30), open_probability=50, data_until=datetime(2026, 12, 1, tzinfo=UTC)
    )
    r = run_backtest(
        accounts_frame(ACCOUNTS), opportunities_frame(OPPORTUNITIES), _pack(tmp_path), settings
    ).to_json()
    assert r["horizon_complete"] is False
    assert any("not counted" in n for n in r["notes"])  # type: ignore[attr-defined]


def test_months_are_added_as_calendar_months() -> None:
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2025, 11, 15), 14) == date(2027, 1, 15)
