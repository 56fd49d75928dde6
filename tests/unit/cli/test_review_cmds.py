"""`plan --rules --offline`, `explain` and `backtest` as a user runs them, on a stored snapshot."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from kam_sync.cli.main import main
from kam_sync.config.loader import load_project
from kam_sync.engine.preview import load_portfolio
from kam_sync.engine.report import save_last_run
from kam_sync.store import open_store
from tests.conftest import init_project

NOW = datetime.now(UTC)


def _account(i: int, **extra: Any) -> dict[str, Any]:
    inputs = dict.fromkeys(
        ("relationship_strength", "contacts_engaged", "executive_sponsor", "strategic_fit")
    )
    return {"id": f"001A{i:02d}", "name": f"Account {i}", "modified_at": NOW, "is_deleted": False,
            "created_at": NOW - timedelta(days=900), **inputs, **extra}  # fmt: skip


def _won(i: int, account: int, amount: str, days_ago: int) -> dict[str, Any]:
    return {"id": f"006O{i:03d}", "account_id": f"001A{account:02d}", "name": "deal",
            "amount": amount, "is_closed": True, "is_won": True, "probability": 100.0,
            "close_date": (NOW - timedelta(days=days_ago)).date(),
            "created_at": NOW - timedelta(days=days_ago + 60), "modified_at": NOW,
            "is_deleted": False}  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = init_project(tmp_path / "project")
    loaded = load_project(root)
    store = open_store(loaded.config.store.url, root)
    try:
        store.upsert_snapshot(
            "account",
            [
                _account(1, relationship_strength="strategic_partner", contacts_engaged=12,
                         executive_sponsor="005X", strategic_fit="high"),
                _account(2, relationship_strength="weak", strategic_fit="low"),
                _account(3, relationship_strength="strong", contacts_engaged=8,
                         executive_sponsor="005Y", strategic_fit="high"),
                *[_account(i) for i in range(4, 12)],
            ],
        )  # fmt: skip
        store.upsert_snapshot(
            "opportunity",
            [
                _won(1, 1, "900000.00", 100),
                _won(2, 2, "1500000.00", 50),
                _won(3, 3, "60000.00", 30),
                _won(4, 1, "400000.00", 500),  # a year and a half ago: before a backtest date
                _won(5, 2, "800000.00", 520),
            ],
        )
    finally:
        store.close()
    return root


@pytest.fixture
def proposed(tmp_path: Path, project: Path) -> Path:
    folder = tmp_path / "proposed"
    folder.mkdir()
    text = (project / "rules" / "scoring.yaml").read_text(encoding="utf-8")
    # Relationships weigh four times as much; revenue a fifth.
    text = text.replace(
        "label: Relationship strength\n    weight: 15",
        "label: Relationship strength\n    weight: 60",
    )
    text = text.replace(
        "label: Revenue today\n    weight: 25", "label: Revenue today\n    weight: 5"
    )
    assert "weight: 60" in text and "weight: 5\n" in text
    (folder / "scoring.yaml").write_text(text, encoding="utf-8")
    return folder


def _run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


def test_plan_offline_previews_proposed_rules_with_names_and_stable_keys(
    project: Path, proposed: Path
) -> None:
    code, out = _run("plan", "--project", str(project), "--rules", str(proposed), "--offline",
                     "--format", "json")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["source"] == "the stored snapshot"
    assert data["rule_files_from_project"] == ["governance", "checklist", "stages"]
    assert sum(n for row in data["tier_matrix"].values() for n in row.values()) == 11
    changes = data["tier_changes"]
    assert changes, "a weight change this large moves some account"
    for change in changes:
        assert {"account_id", "name", "from", "to", "score_before", "score_after"} <= set(change)
        assert change["name"] == f"Account {int(change['account_id'][-2:])}"
        assert change["factors"], "every move names the factors that moved it"
    # Account 2 lives on revenue with weak relationships: the new weights demote it.
    moved = {c["account_id"]: c for c in changes}
    assert moved["001A02"]["direction"] == "demoted"
    assert {"current", "proposed"} == set(data["key_list"])


def test_plan_offline_narrows_to_a_selection(project: Path, proposed: Path) -> None:
    code, out = _run("plan", "--project", str(project), "--rules", str(proposed), "--offline",
                     "--format", "json", "--select", "won_amount_12m > 1000000")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["accounts"] == 1
    assert [c["account_id"] for c in data["tier_changes"]] == ["001A02"]


def test_plan_offline_csv_and_html_carry_full_names(project: Path, proposed: Path) -> None:
    code, out = _run("plan", "--project", str(project), "--rules", str(proposed), "--offline",
                     "--format", "csv")  # fmt: skip
    assert code == 0 and out.startswith("account_id,name,from,to,direction")
    assert "Account 2," in out
    code, out = _run("plan", "--project", str(project), "--rules", str(proposed), "--offline",
                     "--format", "html")  # fmt: skip
    assert code == 0 and out.startswith("<!doctype html>") and "Account 2" in out
    assert "<script" not in out


def test_offline_without_rules_is_a_usage_error(project: Path) -> None:
    with pytest.raises(SystemExit) as exit_info, contextlib.redirect_stderr(io.StringIO()):
        main(["plan", "--project", str(project), "--offline"])
    assert exit_info.value.code != 0


def test_explain_shows_every_signal_open_questions_gates_and_currency(project: Path) -> None:
    loaded = load_project(project)
    store = open_store(loaded.config.store.url, project)
    try:
        result = load_portfolio(loaded, store, NOW).assess(loaded.rules)
    finally:
        store.close()
    save_last_run(project, result, mode="run")
    code, out = _run("explain", "001A03", "--project", str(project), "--json")
    assert code == 0
    report = json.loads(out)
    factors = {f["factor"]: f for f in report["factor_details"]}
    relationship = factors["relationship_strength"]
    assert [s["label"] for s in relationship["signals"]] == [
        "relationship rated",
        "contacts engaged",
        "executive sponsor known",
    ]
    assert [s["raw"] for s in relationship["signals"]] == ["strong", 8, "yes"]
    # strong 0.75 x 2, 8 contacts (1..12) 7/11 x 1, sponsor 1 x 1, of weight 4
    assert relationship["score"] == pytest.approx((1.5 + 7 / 11 + 1) / 4, abs=1e-3)
    contributions = sum(s["contribution"] for s in relationship["signals"])
    assert contributions == pytest.approx(relationship["points"], abs=0.05)
    assert report["currency"].startswith("the CRM's currency")
    assert report["source"] == "the last run"
    programme = result.assessments.filter(pl.col("checklist_completion").is_not_null())
    account = programme["account_id"][0]
    code, out = _run("explain", account, "--project", str(project), "--json")
    in_programme = json.loads(out)
    open_texts = [q["text"] for q in in_programme["open_questions"]]
    assert open_texts, "a programme account with an empty checklist has open questions"
    # The gaps written to the CRM name the same open questions, least complete category first.
    first_in_gaps = in_programme["checklist_gaps"].split(": ", 1)[1].split("?")[0] + "?"
    assert first_in_gaps in open_texts
    assert [g["label"] for g in in_programme["stage_gates"]][:2] == ["Strategy", "Research"]
    code, text = _run("explain", "001A03", "--project", str(project))
    assert code == 0
    assert "executive sponsor known" in text and "money figures are in" in text


def test_explain_under_proposed_rules_scores_the_snapshot(project: Path, proposed: Path) -> None:
    code, out = _run("explain", "001A03", "--project", str(project), "--rules", str(proposed),
                     "--json")  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert report["source"] == "the proposed rules, over the stored snapshot"
    weights = {f["factor"]: f["weight"] for f in report["factor_details"]}
    assert weights["relationship_strength"] == 60


def test_backtest_prints_rules_and_baseline_figures(project: Path) -> None:
    day = (NOW - timedelta(days=400)).date().isoformat()
    code, out = _run("backtest", "--project", str(project), "--as-of", day, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["as_of"] == day and data["account_fields"] == "as_now"
    assert {"rules", "baseline", "tiers"} <= set(data)
    # Won 100 and 50 days ago; the deal won 30 days ago closes after the 12 months (day 35).
    assert data["revenue"] == "2400000.00"
    code, text = _run("backtest", "--project", str(project), "--as-of", day)
    assert code == 0 and "ACCOUNT FIELDS ARE AS THEY ARE NOW" in text
