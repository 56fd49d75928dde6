"""Golden cases: rule pack + input portfolio (+ history) -> expected assessments.

Each YAML file in tests/fixtures/rules_cases is one case (files starting with '_' are shared
packs). A case runs one or more nightly runs in sequence, carrying the governance history
from run to run as the store would. Expected values: numbers match to 0.01; a key ending in
``__contains`` checks a substring, ``__excludes`` its absence; ``__max_len`` a maximum length.
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from kam_sync.rules import assess_portfolio

from .portfolio import (
    accounts_frame,
    history_from,
    opportunities_frame,
    pack_with,
    utc,
)

CASES = Path(__file__).resolve().parents[2] / "fixtures" / "rules_cases"
_RUN_KEYS = (
    "as_of",
    "expect",
    "expect_alerts",
    "expect_metrics",
    "expect_key_list",
    "expect_absent",
)
CASE_FILES = sorted(p for p in CASES.glob("*.yaml") if not p.name.startswith("_"))


def test_there_are_at_least_forty_golden_cases() -> None:
    assert len(CASE_FILES) >= 40


def _load_case(path: Path) -> dict[str, Any]:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(case, dict) and "description" in case, f"{path.name}: needs a description"
    if "runs" not in case:
        case["runs"] = [
            {
                k: case.pop(k)
                for k in ("as_of", "expect", "expect_alerts", "expect_metrics", "expect_key_list")
                if k in case
            }
        ]
    return case


def _overrides(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for base in case.get("packs", []):
        shared = yaml.safe_load((CASES / f"_{base}.yaml").read_text(encoding="utf-8"))
        for kind, sections in shared.items():
            merged.setdefault(kind, {}).update(sections)
    for kind, sections in case.get("rules", {}).items():
        merged.setdefault(kind, {}).update(sections)
    return merged


def _check(where: str, actual: Any, expected: Any) -> None:
    if isinstance(expected, float) or (isinstance(expected, int) and isinstance(actual, float)):
        assert actual is not None and math.isclose(actual, expected, abs_tol=0.01), (
            f"{where}: expected {expected}, got {actual}"
        )
    else:
        if isinstance(actual, Decimal):  # money: compare the amount, written as a number
            actual, expected = float(actual), float(expected)
        assert actual == expected, f"{where}: expected {expected!r}, got {actual!r}"


def _check_row(where: str, row: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, want in expected.items():
        if key.endswith("__contains"):
            column = key.removesuffix("__contains")
            wanted = want if isinstance(want, list) else [want]
            for piece in wanted:
                assert piece in (row[column] or ""), (
                    f"{where}.{column}: {piece!r} not in {row[column]!r}"
                )
        elif key.endswith("__excludes"):
            column = key.removesuffix("__excludes")
            for piece in want if isinstance(want, list) else [want]:
                assert piece not in (row[column] or ""), f"{where}.{column}: {piece!r} is in it"
        elif key.endswith("__max_len"):
            column = key.removesuffix("__max_len")
            assert len(row[column]) <= want, f"{where}.{column}: longer than {want}"
        else:
            assert key in row, f"{where}: no column '{key}'"
            _check(f"{where}.{key}", row[key], want)


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_golden_case(path: Path, tmp_path: Path) -> None:
    case = _load_case(path)
    pack = pack_with(_overrides(case), tmp_path)
    accounts = {row["id"]: dict(row) for row in case.get("accounts", [])}
    opportunities = list(case.get("opportunities", []))
    history = history_from(case.get("history"))
    for n, run in enumerate(case["runs"], start=1):
        for account_id, changes in (run.get("update") or {}).items():
            accounts[account_id].update(changes)
        opportunities += run.get("add_opportunities", [])
        result = assess_portfolio(
            accounts_frame(list(accounts.values())),
            opportunities_frame(opportunities),
            history,
            pack,
            utc(run["as_of"]),
        )
        rows = {r["account_id"]: r for r in result.assessments.iter_rows(named=True)}
        label = f"{path.stem} run {n}"
        for account_id, expected in (run.get("expect") or {}).items():
            assert account_id in rows, f"{label}: no assessment for {account_id}"
            _check_row(f"{label} {account_id}", rows[account_id], expected)
        for account_id in run.get("expect_absent", []):
            assert account_id not in rows, f"{label}: {account_id} should not be assessed"
        if "expect_alerts" in run:
            kinds = sorted(a.kind for a in result.alerts)
            assert kinds == sorted(run["expect_alerts"]), f"{label}: alerts {result.alerts}"
        if "expect_metrics" in run:
            metrics = {r["id"]: r for r in result.metrics.iter_rows(named=True)}
            for account_id, expected in run["expect_metrics"].items():
                _check_row(f"{label} metrics {account_id}", metrics[account_id], expected)
        if "expect_key_list" in run:
            entry = result.key_list_entry
            got = {"key_count": entry.key_count, "added_count": entry.added_count,
                   "removed_count": entry.removed_count}  # fmt: skip
            assert got == run["expect_key_list"], f"{label}: key list {got}"
        history = result.history
