"""Unit tests of the rules engine's parts and its public contract."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from kam_sync.canonical import CHECKLIST_CATEGORIES
from kam_sync.rules import (
    ACCOUNT_STATE_SCHEMA,
    RULE_FILE_MODELS,
    GovernanceHistory,
    RulePack,
    assess_portfolio,
    assessment_schema,
    compute_metrics,
    load_rule_pack,
)
from kam_sync.rules.hierarchy import group_ids

from .portfolio import AS_OF, accounts_frame, default_files, opportunities_frame

QUESTION_COUNTS = {
    "our_team": 7, "account_team": 7, "trends": 7, "needs": 8,
    "account_info": 8, "competitors": 6, "value": 8, "unknowns": 6,
}  # fmt: skip


@pytest.fixture(scope="module")
def pack() -> RulePack:
    loaded, issues = load_rule_pack(default_files())
    assert loaded is not None, "\n".join(str(i) for i in issues)
    return loaded


def test_the_default_pack_loads_without_a_single_issue(pack: RulePack) -> None:
    assert pack.tier_names == ("strategic", "key", "emerging", "watchlist", "none")


def test_the_default_checklist_has_the_57_canonical_question_ids(pack: RulePack) -> None:
    ids = [q.id for q in pack.questions]
    expected = [f"{c}_{n:02d}" for c, k in QUESTION_COUNTS.items() for n in range(1, k + 1)]
    assert ids == expected
    assert len(ids) == 57
    assert list(pack.checklist.categories) == list(CHECKLIST_CATEGORIES)


def test_every_rule_file_model_exports_a_json_schema() -> None:
    assert set(RULE_FILE_MODELS) == {"scoring", "governance", "checklist", "stages"}
    for model in RULE_FILE_MODELS.values():
        schema = model.model_json_schema()
        assert schema["additionalProperties"] is False


def test_a_long_parent_chain_resolves_to_its_top_account() -> None:
    n = 2000
    ids = [f"N{i:05d}" for i in range(n)]
    frame = pl.DataFrame({"id": ids, "parent_id": [None, *ids[:-1]]})
    groups = group_ids(frame)
    assert groups["group_id"].unique().to_list() == ["N00000"]


def test_a_cycle_and_the_accounts_hanging_from_it_form_one_group() -> None:
    frame = pl.DataFrame({"id": ["c", "a", "b", "t", "s"], "parent_id": ["a", "b", "c", "c", "s"]})
    groups = dict(group_ids(frame).iter_rows())
    assert groups == {"a": "a", "b": "a", "c": "a", "t": "a", "s": "s"}


def test_a_naive_as_of_is_refused(pack: RulePack) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        assess_portfolio(
            accounts_frame([{"id": "A"}]),
            opportunities_frame([]),
            GovernanceHistory.empty(),
            pack,
            datetime(2026, 11, 27),
        )


def test_an_empty_portfolio_gives_an_empty_table_with_every_column(pack: RulePack) -> None:
    result = assess_portfolio(
        accounts_frame([]), opportunities_frame([]), GovernanceHistory.empty(), pack, AS_OF
    )
    assert result.assessments.height == 0
    assert result.assessments.schema == pl.Schema(assessment_schema(pack))
    assert result.key_list_entry.key_count == 0


def test_tables_with_only_some_columns_are_accepted(pack: RulePack) -> None:
    accounts = pl.DataFrame({"id": ["A", "B"], "employees": [10, 20_000]})
    opportunities = pl.DataFrame({"id": ["o"], "account_id": ["A"], "amount": [1000.0]})
    result = assess_portfolio(accounts, opportunities, GovernanceHistory.empty(), pack, AS_OF)
    assert result.assessments["account_id"].to_list() == ["A", "B"]


def test_the_assessment_table_has_the_published_schema(pack: RulePack) -> None:
    accounts = accounts_frame([{"id": "B", "contacts_engaged": 3}, {"id": "A"}])
    result = assess_portfolio(
        accounts, opportunities_frame([]), GovernanceHistory.empty(), pack, AS_OF
    )
    assert result.assessments.schema == pl.Schema(assessment_schema(pack))
    assert result.assessments["as_of"].to_list() == [AS_OF, AS_OF]
    assert all(f"checklist_{c}" in result.assessments.columns for c in CHECKLIST_CATEGORIES)


def test_the_next_history_adds_this_run_and_replaces_the_account_state(pack: RulePack) -> None:
    accounts = accounts_frame([{"id": "A"}, {"id": "B"}])
    first = assess_portfolio(
        accounts, opportunities_frame([]), GovernanceHistory.empty(), pack, AS_OF
    )
    assert first.history.runs == (first.key_list_entry,)
    assert first.history.accounts.schema == pl.Schema(ACCOUNT_STATE_SCHEMA)
    assert first.history.accounts["account_id"].to_list() == ["A", "B"]
    second = assess_portfolio(accounts, opportunities_frame([]), first.history, pack, AS_OF)
    assert len(second.history.runs) == 2


def test_every_explanation_fits_the_configured_length(pack: RulePack) -> None:
    accounts = accounts_frame(
        [
            {"id": f"A{i}", "relationship_strength": "strong", "contacts_engaged": i}
            for i in range(20)
        ]
    )
    result = assess_portfolio(
        accounts, opportunities_frame([]), GovernanceHistory.empty(), pack, AS_OF
    )
    limit = pack.scoring.explanation.max_length
    texts = result.assessments["score_explanation"].to_list()
    assert all(t and len(t) <= limit for t in texts)
    assert all(re.match(r"Score \d+(\.\d+)?, tier \w+", t) for t in texts)


def test_metrics_computed_elsewhere_give_the_same_assessments(pack: RulePack) -> None:
    accounts = accounts_frame([{"id": "A", "contacts_engaged": 4}, {"id": "B"}])
    opportunities = opportunities_frame(
        [{"id": "o", "account_id": "A", "amount": 300000, "is_closed": True, "is_won": True,
          "close_date": "2026-06-01"}]
    )  # fmt: skip
    inline = assess_portfolio(accounts, opportunities, GovernanceHistory.empty(), pack, AS_OF)
    given = assess_portfolio(
        accounts,
        opportunities_frame([]),
        GovernanceHistory.empty(),
        pack,
        AS_OF,
        metrics=compute_metrics(accounts, opportunities, AS_OF),
    )
    assert given.assessments.equals(inline.assessments)
    with pytest.raises(ValueError, match="metrics lack column"):
        assess_portfolio(
            accounts, opportunities, GovernanceHistory.empty(), pack, AS_OF,
            metrics=pl.DataFrame({"id": ["A"]}),
        )  # fmt: skip


def test_extra_account_columns_may_be_named_in_conditions(tmp_path: Path) -> None:
    files = default_files()
    scoring = tmp_path / "scoring.yaml"
    text = files["scoring"].read_text(encoding="utf-8")
    scoring.write_text(text.replace("won_amount_12m >= 250000", "segment = 'enterprise'"), "utf-8")
    files["scoring"] = scoring
    pack, issues = load_rule_pack(files)
    assert pack is None and "unknown column 'segment'" in issues[0].message
    pack, issues = load_rule_pack(files, extra_account_columns={"segment": pl.Utf8()})
    assert pack is not None, issues
    accounts = accounts_frame([{"id": "A"}, {"id": "B"}]).with_columns(
        pl.Series("segment", ["enterprise", "smb"])
    )
    result = assess_portfolio(
        accounts, opportunities_frame([]), GovernanceHistory.empty(), pack, AS_OF
    )
    assert result.assessments["classification"].to_list() == ["existing_key", "not_key"]


def test_an_extra_account_column_may_not_shadow_a_computed_column() -> None:
    pack, issues = load_rule_pack(
        default_files(), extra_account_columns={"won_amount_12m": pl.Float64()}
    )
    assert pack is None
    assert "extra account column 'won_amount_12m'" in issues[0].message


def test_unknown_columns_in_the_account_table_are_ignored(pack: RulePack) -> None:
    accounts = accounts_frame([{"id": "A"}]).with_columns(
        pl.lit(99.0).alias("score"), pl.lit("x").alias("won_amount_12m")
    )
    result = assess_portfolio(
        accounts, opportunities_frame([]), GovernanceHistory.empty(), pack, AS_OF
    )
    assert result.assessments["score"][0] != 99.0
