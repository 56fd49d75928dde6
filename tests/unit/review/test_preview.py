"""Impact preview: a small portfolio under two packs, with every answer worked out by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kam_sync.engine.preview import Portfolio, compare, select_accounts
from kam_sync.rules import RulePack
from tests.unit.rules.portfolio import (
    AS_OF,
    accounts_frame,
    history_from,
    opportunities_frame,
    pack_with,
)

TIERS = [
    {"name": "strategic", "min_score": 80},
    {"name": "key", "min_score": 60},
    {"name": "emerging", "min_score": 45},
    {"name": "watchlist", "min_score": 35},
    {"name": "none"},
]
CLASSIFICATION = [
    {"name": "existing_key", "when": "score >= 60"},
    {"name": "emerging_key", "when": "score >= 45"},
    {"name": "not_key"},
]


def _pack(folder: Path, relationship_weight: float, *, growth_alert: bool = False) -> RulePack:
    folder.mkdir()
    factors = {
        "relationship_strength": {
            "label": "Relationships",
            "weight": relationship_weight,
            "missing": "zero",
            "signals": [{"input": "contacts_engaged", "scale": {"type": "linear_band", "low": 0, "high": 100}}],
        },
        "fit": {
            "label": "Fit",
            "weight": 1,
            "missing": "zero",
            "signals": [
                {
                    "input": "strategic_fit",
                    "scale": {"type": "picklist_map", "values": {"low": 0, "medium": 0.5, "high": 1}},
                }
            ],
        },
    }  # fmt: skip
    governance: dict[str, Any] = {
        "anti_flapping": {"promotion_margin": 0, "demotion_margin": 0, "demotion_runs": 1},
        "cap": {"max_accounts": 1, "mode": "flag"},
        "growth_alert": {"window_days": 30, "max_added_accounts": 0} if growth_alert else None,
    }
    return pack_with(
        {
            "scoring": {"factors": factors, "classification": CLASSIFICATION, "tiers": TIERS},
            "governance": governance,
            "stages": {"team": {"required_roles": []}},
        },
        folder,
    )


ACCOUNTS = [
    {"id": "A", "name": "Acme", "contacts_engaged": 80, "strategic_fit": "low"},
    {"id": "B", "name": "Bolt", "contacts_engaged": 20, "strategic_fit": "high"},
    {"id": "C", "name": "Core", "contacts_engaged": 50, "strategic_fit": "medium"},
    {"id": "D", "name": "Dyna", "contacts_engaged": 90, "strategic_fit": "high"},
    {"id": "E", "name": "Echo", "contacts_engaged": 10, "strategic_fit": "low"},
]
# The last run (a week ago) had D alone on the key list.
HISTORY = {
    "runs": [{"as_of": "2026-11-20T02:00:00Z", "key_count": 1}],
    "accounts": [{"account_id": "D", "tier": "strategic"}],
}


def _portfolio() -> Portfolio:
    return Portfolio(
        accounts=accounts_frame(ACCOUNTS),
        opportunities=opportunities_frame([]),
        history=history_from(HISTORY),
        as_of=AS_OF,
    )


def test_a_weight_change_is_previewed_as_worked_out_by_hand(tmp_path: Path) -> None:
    # Current: relationships weight 3, fit 1. Proposed: 1 and 1, and a growth alert.
    #        contacts fit   current (3c + f) / 4     proposed (c + f) / 2
    #   A    0.8      0     60.0  key               40.0  watchlist     demoted
    #   B    0.2      1     40.0  watchlist         60.0  key           promoted
    #   C    0.5      0.5   50.0  emerging          50.0  emerging
    #   D    0.9      1     92.5  strategic         95.0  strategic
    #   E    0.1      0      7.5  none               5.0  none
    current = _pack(tmp_path / "current", 3)
    proposed = _pack(tmp_path / "proposed", 1, growth_alert=True)
    preview = compare(_portfolio(), current, proposed).to_json()

    assert preview["tier_matrix"] == {
        "strategic": {"strategic": 1},
        "key": {"watchlist": 1},
        "emerging": {"emerging": 1},
        "watchlist": {"key": 1},
        "none": {"none": 1},
    }
    changes = preview["tier_changes"]
    assert [(c["account_id"], c["name"], c["from"], c["to"], c["direction"]) for c in changes] == [
        ("B", "Bolt", "watchlist", "key", "promoted"),
        ("A", "Acme", "key", "watchlist", "demoted"),
    ]
    b, a = changes
    assert (b["score_before"], b["score_after"]) == (40.0, 60.0)
    assert (a["score_before"], a["score_after"]) == (60.0, 40.0)
    # B: relationships 0.2 x 3/4 = 15 points -> 0.2 x 1/2 = 10; fit 1 x 1/4 = 25 -> 50.
    assert [(f["label"], f["points_before"], f["points_after"]) for f in b["factors"]] == [
        ("Fit", 25.0, 50.0),
        ("Relationships", 15.0, 10.0),
    ]
    # A's fit scores 0 on both sides: it did not move A.
    assert [(f["factor"], f["points_before"], f["points_after"]) for f in a["factors"]] == [
        ("relationship_strength", 60.0, 40.0)
    ]
    assert preview["promoted"] == 1 and preview["demoted"] == 1
    assert preview["score_changes"] == 4  # all but C
    # Key list: D + A, then D + B; the cap of 1 flags the second (D ranks first as incumbent).
    current_list, proposed_list = preview["key_list"]["current"], preview["key_list"]["proposed"]
    assert (current_list["key_accounts"], current_list["cap"], current_list["over_cap"]) == (
        2,
        1,
        1,
    )
    assert (proposed_list["key_accounts"], proposed_list["over_cap"]) == (2, 1)
    # The window's first run had 1 key account, now 2: one added, more than the 0 allowed.
    assert current_list["growth_alert"] is False
    assert proposed_list["growth_alert"] is True
    # Programme (strategic, key, emerging) accounts are at stage strategy (no gate needs more).
    assert preview["stage_matrix"] == {"strategy": {"(none)": 1}, "(none)": {"strategy": 1}}
    assert preview["stage_counts"] == {"current": {"strategy": 3}, "proposed": {"strategy": 3}}
    assert preview["checklist"]["current"]["assessed"] == 3
    assert preview["checklist"]["changed"] == 2  # A leaves the programme, B enters it


def test_the_same_pack_on_both_sides_moves_nothing(tmp_path: Path) -> None:
    pack = _pack(tmp_path / "p", 3)
    preview = compare(_portfolio(), pack, pack).to_json()
    assert preview["tier_changes"] == []
    assert preview["score_changes"] == 0
    assert all(list(row) == [tier] for tier, row in preview["tier_matrix"].items())
    assert preview["stage_matrix"] == {}


def test_select_takes_ids_or_a_condition(tmp_path: Path) -> None:
    pack = _pack(tmp_path / "p", 3)
    portfolio = _portfolio()
    result = portfolio.assess(pack)
    args = (portfolio.accounts, result.metrics, result.assessments, pack)
    assert select_accounts("A, C", *args) == {"A", "C"}
    assert select_accounts("score >= 60 AND strategic_fit <> 'high'", *args) == {"A"}
    assert select_accounts("tier = 'none'", *args) == {"E"}
    with pytest.raises(ValueError, match="neither a list of assessed account ids"):
        select_accounts("A, Z", *args)
    selected = compare(portfolio, pack, _pack(tmp_path / "q", 1), selected={"A"}).to_json()
    assert [c["account_id"] for c in selected["tier_changes"]] == ["A"]
    assert selected["accounts"] == 1
