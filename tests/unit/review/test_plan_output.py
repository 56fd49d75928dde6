"""`plan` lists names, tier changes first, full values outside the table; the summary names the
currency amounts were converted to."""

from __future__ import annotations

from datetime import UTC, datetime

from kam_sync.cli.review_cmds import format_plan, plan_rows
from kam_sync.cli.review_render import plan_csv
from kam_sync.cli.sync_cmds import format_summary
from kam_sync.engine.summary import RunSummary
from kam_sync.writeback.diff import WritePlan

T0 = datetime(2026, 12, 1, 2, tzinfo=UTC)
LONG = "Score 72.3, tier key (score and conditions). " + "Revenue today +20 points; " * 10


def _plan() -> WritePlan:
    plan = WritePlan()
    plan.updates = {
        "001A": {"kam_score_explanation": LONG},
        "001B": {"kam_tier": "key", "kam_score": 72.3},
        "001C": {"kam_flags": ["over_cap", "growth_alert"]},
    }
    plan.current = {
        "001A": {"kam_score_explanation": "old"},
        "001B": {"kam_tier": "watchlist", "kam_score": 58.0},
        "001C": {"kam_flags": []},
    }
    return plan


def test_tier_changes_come_first_with_names_and_full_values() -> None:
    rows = plan_rows(_plan(), {"001A": "Acme", "001B": "Bolt", "001C": "Core"}, None)
    assert [r["account_id"] for r in rows][:2] == ["001B", "001B"]
    assert rows[0]["name"] == "Bolt"
    explanation = next(r for r in rows if r["field"] == "kam_score_explanation")
    assert explanation["new"] == LONG  # not cut at 60 characters
    assert LONG in plan_csv(rows).replace('"', "")
    table = format_plan(RunSummary(run_id=1, mode="plan", as_of=T0, started_at=T0), rows, {},
                        limit=2)  # fmt: skip
    assert "001B  Bolt" in table and "... and 1 more accounts" in table
    assert LONG not in table  # the table shortens


def test_a_selection_keeps_only_the_selected_accounts() -> None:
    rows = plan_rows(_plan(), {}, {"001C"})
    assert {r["account_id"] for r in rows} == {"001C"}


def test_the_run_summary_names_the_currency_amounts_were_converted_to() -> None:
    summary = RunSummary(run_id=1, mode="run", as_of=T0, started_at=T0, currency="EUR")
    assert "money:       in EUR" in format_summary(summary)
