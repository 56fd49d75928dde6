"""The texts people read: labels in the rule pack, explanations and gaps cut at a word."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from kam_sync.rules import GovernanceHistory, RulePack, assess_portfolio, load_rule_pack
from kam_sync.rules.explanation import cut_at_word

from .portfolio import AS_OF, accounts_frame, default_files, opportunities_frame, pack_with


@pytest.fixture(scope="module")
def pack() -> RulePack:
    loaded, issues = load_rule_pack(default_files())
    assert loaded is not None, "\n".join(str(i) for i in issues)
    return loaded


def _cut(text: str, limit: int) -> str:
    value = pl.select(cut_at_word(pl.lit(text), limit).alias("t")).item()
    assert isinstance(value, str)
    return value


def test_a_text_that_fits_is_left_as_it_is() -> None:
    assert _cut("Score 72.3, tier key", 20) == "Score 72.3, tier key"


def test_a_cut_text_ends_at_a_word_with_an_ellipsis() -> None:
    text = "Revenue today +21.2 points (won in the last 12 months 900000: 0.85); Fit +10"
    cut = _cut(text, 40)
    assert len(cut) <= 40
    assert cut == "Revenue today +21.2 points (won in the…"


def test_a_cut_never_leaves_half_a_number() -> None:
    text = "Score 58.1, tier watchlist; weighted open pipeline 1234567: 0.95"
    for limit in range(10, len(text)):
        cut = _cut(text, limit)
        assert len(cut) <= limit
        kept = cut.removesuffix("…").split()
        assert all(word in text.split() or text.split()[i].startswith(word.rstrip(";,:"))
                   for i, word in enumerate(kept))  # fmt: skip
        assert kept[-1].rstrip(";,:(") == text.split()[len(kept) - 1].rstrip(";,:("), limit


def test_a_text_without_a_space_in_reach_is_cut_hard() -> None:
    assert _cut("x" * 30, 10) == "x" * 9 + "…"


def test_the_default_pack_labels_every_factor_signal_and_stage(pack: RulePack) -> None:
    assert pack.warnings == ()
    assert pack.factor_label("current_revenue") == "Revenue today"
    assert all(s.spec.label for sigs in pack.signals.values() for s in sigs)
    assert pack.stage_label("action_plan") == "Action plan"
    assert pack.stage_requirement("execution") is not None


def test_a_factor_without_a_label_is_a_warning_at_its_line(tmp_path: Path) -> None:
    factors = {
        "current_revenue": {
            "weight": 1,
            "signals": [{"input": "won_amount_12m", "scale": {"type": "percentile"}}],
        }
    }
    classification = [{"name": "not_key"}]
    pack = pack_with({"scoring": {"factors": factors, "classification": classification}}, tmp_path)
    messages = [str(w) for w in pack.warnings]
    assert any("scoring.yaml:" in m and "factor 'current_revenue' has no 'label'" in m
               for m in messages), messages  # fmt: skip
    assert any("signal 1 of factor 'current_revenue'" in m for m in messages)
    assert pack.factor_label("current_revenue") == "Current revenue"


def test_the_gaps_name_open_questions_and_fit_the_configured_length(tmp_path: Path) -> None:
    gaps = {"max_categories": 2, "max_length": 200}
    pack = pack_with({"checklist": {"gaps": gaps}}, tmp_path)
    accounts = accounts_frame([{"id": "A", "contacts_engaged": 70, "tier_override": "key"}])
    result = assess_portfolio(
        accounts, opportunities_frame([]), GovernanceHistory.empty(), pack, AS_OF
    )
    text = result.assessments["checklist_gaps"][0]
    assert len(text) <= 200 and text.endswith("…")
    # Least complete first (ties in checklist order), every open question by its text, cut
    # after the last word that fits.
    assert text == (
        "Our own team 0% (0/7): Is an executive on our side sponsoring this account? Is one "
        "named owner accountable for the account relationship? Do we know how much time and "
        "budget we will put into the…"
    )
