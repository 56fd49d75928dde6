"""`plan` and the run summary name the accounts out of scope that hold kam-sync's values."""

from __future__ import annotations

from datetime import UTC, datetime

from kam_sync.cli.sync_cmds import format_plan, format_summary
from kam_sync.engine.summary import RunSummary
from kam_sync.writeback.diff import OutOfScopeAccount

T0 = datetime(2026, 12, 1, 2, tzinfo=UTC)


def _summary(mode: str) -> RunSummary:
    return RunSummary(run_id=7, mode=mode, as_of=T0, started_at=T0, status="ok", out_of_scope=2)


def test_the_plan_table_lists_accounts_out_of_scope_by_id_and_name() -> None:
    accounts = [
        OutOfScopeAccount("001A", "Acme Partners", "clear"),
        OutOfScopeAccount("001B", None, "clear"),
    ]

    text = format_plan(_summary("plan"), [], {"write": 1}, limit=1, out_of_scope=accounts)

    assert "out of scope (KAM values cleared):" in text
    assert "001A  Acme Partners" in text
    assert "001B" not in text and "... and 1 more" in text


def test_the_run_summary_counts_accounts_out_of_scope() -> None:
    assert "out of scope: 2 accounts holding KAM values kam-sync wrote" in format_summary(
        _summary("run")
    )


def test_values_already_as_wanted_are_counted_with_the_writes_not_with_out_of_scope() -> None:
    summary = _summary("run")
    summary.adopted = 3

    lines = format_summary(summary).splitlines()

    written = next(line for line in lines if line.strip().startswith("written:"))
    out_of_scope = next(line for line in lines if line.strip().startswith("out of scope:"))
    assert "3 values already in the CRM as wanted (recorded, not sent)" in written
    assert "3" not in out_of_scope.replace("2 accounts", "")
