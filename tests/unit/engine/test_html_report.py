"""The report's data and page, from a store with known history (no browser: see
tests/e2e/test_report_in_browser.py for the page drawn by Chromium)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kam_sync.cli.main import main
from kam_sync.engine.html_report import render, write_report
from kam_sync.engine.report_data import ReportData, gather
from kam_sync.store import open_store
from tests.report_portfolio import HOSTILE_NAME, NOW, ReportPortfolio, build


@pytest.fixture
def portfolio(tmp_path: Path) -> ReportPortfolio:
    return build(tmp_path)


def _gather(portfolio: ReportPortfolio, runs: int = 30) -> ReportData:
    store = open_store(portfolio.project.config.store.url, portfolio.root)
    try:
        return gather(portfolio.project, store, runs=runs, now=NOW)
    finally:
        store.close()


def test_the_portfolio_parts_count_the_last_runs_assessments(portfolio: ReportPortfolio) -> None:
    data = _gather(portfolio)
    assert data.tier_counts == {"strategic": 1, "key": 2, "emerging": 2, "watchlist": 0, "none": 0}
    assert data.tier_thresholds == [
        ("strategic", 75),
        ("key", 60),
        ("emerging", 45),
        ("watchlist", 35),
    ]
    assert sorted(data.scores) == [50.0, 55.0, 62.0, 66.0, 81.5]
    assert data.programme_accounts == 4
    assert data.stage_counts == {
        "strategy": 1,
        "research": 1,
        "action_plan": 0,
        "execution": 1,
        "review": 1,
    }
    assert data.checklist_completion["our_team"] == pytest.approx(43.75)
    assert data.checklist_completion["account_team"] == pytest.approx(56.25)
    assert data.checklist_gaps == {
        c: (3 if i % 2 == 0 else 2) for i, c in enumerate(data.checklist_completion)
    }
    assert data.role_coverage["innovator"] == pytest.approx(25.0)
    assert data.role_coverage["technical_expert"] == pytest.approx(75.0)


def test_top_movers_name_the_accounts_whose_score_moved_most_either_way(
    portfolio: ReportPortfolio,
) -> None:
    data = _gather(portfolio)
    since_last = [(m.account_id, round(m.change, 1)) for m in data.movers_last_run]
    assert since_last == [("001A03", 36.0), ("001A02", -20.0), ("001A00", 1.5)]
    over_window = [(m.account_id, round(m.change, 1)) for m in data.movers_window]
    assert over_window == [("001A03", 36.0), ("001A01", 22.0), ("001A02", -20.0), ("001A00", 1.5)]
    assert data.movers_window[1].name == "Globex Insurance"
    assert (data.movers_window[1].previous_tier, data.movers_window[1].tier) == ("watchlist", "key")


def test_the_key_list_series_carries_the_cap_and_the_runs_growth_alerts(
    portfolio: ReportPortfolio,
) -> None:
    data = _gather(portfolio)
    assert [p.key_count for p in data.key_list] == [2, 3, 4]
    assert [p.cap for p in data.key_list] == [3, 3, 3]
    assert [bool(p.growth_alerts) for p in data.key_list] == [False, False, True]


def test_run_history_has_duration_exit_code_calls_writes_failures_and_quarantine(
    portfolio: ReportPortfolio,
) -> None:
    data = _gather(portfolio)
    assert [r.run_id for r in data.runs] == list(portfolio.run_ids)
    last = data.runs[-1]
    assert (last.exit_code, last.write_failures, last.quarantined) == (3, 2, 2)
    assert last.api_calls == {"auth": 1, "query": 6, "write": 1}
    assert last.duration_seconds is not None and last.duration_seconds >= 0
    assert last.alerts == ("key_list_growth",)
    assert [r.run_id for r in _gather(portfolio, runs=2).runs] == list(portfolio.run_ids[1:])


def test_the_retry_queue_and_dead_letters_are_listed_with_names(portfolio: ReportPortfolio) -> None:
    data = _gather(portfolio)
    assert [(q.name, q.field, q.dead) for q in data.queue] == [
        ("Acme Bank", "kam_tier", False),
        ("Initech Motors", "kam_score", True),
    ]


def test_the_page_is_self_contained_and_escapes_crm_text(portfolio: ReportPortfolio) -> None:
    page = render(_gather(portfolio))
    # No script, style or font is fetched: everything is in the page.
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    assert HOSTILE_NAME not in page
    assert "&lt;/script&gt;&lt;script&gt;window.__injected" in page  # the movers table
    for name in (
        "tiers",
        "scores",
        "key-list",
        "stages",
        "checklist",
        "roles",
        "movers-last-run",
        "movers-window",
        "runs",
        "queue",
    ):
        assert f'id="chart-{name}"' in page, name


def test_a_store_without_history_gives_a_page_that_says_so(tmp_path: Path) -> None:
    from kam_sync.config.loader import load_project
    from tests.conftest import init_project

    root = init_project(tmp_path / "fresh")
    project = load_project(root)
    store = open_store(project.config.store.url, project.root)
    try:
        out = write_report(project, store, tmp_path / "r.html", now=NOW)
    finally:
        store.close()
    page = out.read_text(encoding="utf-8")
    assert "No sync run is recorded in this state store yet." in page
    assert "data-empty='tiers'" in page and "data-empty='queue'" in page
    assert 'id="chart-' not in page


def test_kam_sync_report_writes_the_file_and_refuses_a_bad_runs_count(
    portfolio: ReportPortfolio, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "report.html"
    assert (
        main(["report", "--project", str(portfolio.root), "--output", str(out), "--runs", "2"]) == 0
    )
    assert out.stat().st_size > 1_000_000  # plotly.js is inlined
    assert "Run history (last 2 ledger entries)" in out.read_text(encoding="utf-8")
    # A usage error: argparse exits (or main returns its usage exit code).
    try:
        code = main(["report", "--project", str(portfolio.root), "--runs", "0"])
    except SystemExit as usage:
        code = usage.code  # type: ignore[assignment]
    assert code not in (0, None)
    assert "must be at least 1" in capsys.readouterr().err


def test_the_last_sync_is_named_even_when_later_plans_fill_the_run_history(
    portfolio: ReportPortfolio,
) -> None:
    store = open_store(portfolio.project.config.store.url, portfolio.root)
    try:
        for _ in range(3):
            plan = store.begin_run(as_of=NOW, mode="plan")
            store.finish_run(plan, status="ok", exit_code=0)
        data = gather(portfolio.project, store, runs=2, now=NOW)
    finally:
        store.close()
    assert [r.mode for r in data.runs] == ["plan", "plan"]
    assert data.last_run is not None and data.last_run.run_id == portfolio.run_ids[-1]
    assert f"Last sync: run #{portfolio.run_ids[-1]}," in render(data)


def test_a_report_that_cannot_be_written_after_a_run_is_a_warning_not_a_failure(
    portfolio: ReportPortfolio, caplog: pytest.LogCaptureFixture
) -> None:
    from kam_sync.cli.report_cmd import write_after_run
    from kam_sync.config.loader import load_project

    (portfolio.root / "reports").mkdir()
    config = portfolio.root / "kam-sync.yaml"
    config.write_text(
        config.read_text().replace("  # after_run: reports/kam-sync.html", "  after_run: reports")
    )
    project = load_project(portfolio.root)
    assert project.config.report.after_run == "reports"
    store = open_store(project.config.store.url, project.root)
    try:
        write_after_run(project, store)  # does not raise
    finally:
        store.close()
    assert "could not write the report" in caplog.text
    assert list((portfolio.root / "reports").iterdir()) == []


def test_kam_sync_report_to_a_folder_says_so(
    portfolio: ReportPortfolio, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--project", str(portfolio.root), "--output", str(portfolio.root)]) == 1
    assert "is a folder: give the report a file name" in capsys.readouterr().err
