"""A project whose state store and last run hold known report data: three runs over 40 days,
a key list that grew past its growth limit, scores that moved, a retry queue and dead letters.

Written through the store's own API (and the last-run table as a run writes it), so the report's
tests know exactly what each chart must show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from kam_sync.canonical import CHECKLIST_CATEGORIES, TEAM_ROLES
from kam_sync.config.loader import LoadedProject, load_project
from kam_sync.engine.report_data import last_run_path
from kam_sync.store import StateStore, open_store, schema
from kam_sync.store.history import save_scores
from kam_sync.store.writes import record_failures
from tests.conftest import init_project

NOW = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)
# A CRM name that would break a page that did not escape it.
HOSTILE_NAME = "</script><script>window.__injected = 1</script> & <b>Evil</b> Corp"


@dataclass(frozen=True)
class ReportPortfolio:
    root: Path
    project: LoadedProject
    run_ids: tuple[int, int, int]


def _accounts() -> list[dict[str, object]]:
    names = ["Acme Bank", "Globex Insurance", "Initech Motors", HOSTILE_NAME, "Umbrella Health"]
    return [
        {"id": f"001A{i:02d}", "name": name, "modified_at": NOW - timedelta(days=50)}
        for i, name in enumerate(names)
    ]


# Scores per run (40 days ago, yesterday, now); tiers follow the default rules' thresholds.
SCORES: dict[str, tuple[float, float, float]] = {
    "001A00": (80.0, 80.0, 81.5),  # +1.5 since yesterday, +1.5 over 30 days
    "001A01": (40.0, 62.0, 62.0),  # unchanged since yesterday, +22 over 30 days
    "001A02": (70.0, 70.0, 50.0),  # -20 since yesterday and over 30 days
    "001A03": (30.0, 30.0, 66.0),  # +36 since yesterday (the hostile name)
    "001A04": (55.0, 55.0, 55.0),  # never moved
}


def _tier(score: float) -> str:
    for name, threshold in (("strategic", 75), ("key", 60), ("emerging", 45), ("watchlist", 35)):
        if score >= threshold:
            return name
    return "none"


def build(folder: Path) -> ReportPortfolio:
    root = init_project(folder / "project", "salesforce")
    project = load_project(root)
    store = open_store(project.config.store.url, project.root)
    try:
        store.upsert_snapshot("account", _accounts())
        run_ids = tuple(_record_run(store, day, index) for index, day in enumerate((40, 1, 0)))
        _queue(store, run_ids[-1])
    finally:
        store.close()
    _last_run_table(root)
    return ReportPortfolio(root=root, project=project, run_ids=run_ids)  # type: ignore[arg-type]


def _record_run(store: StateStore, days_ago: int, index: int) -> int:
    as_of = NOW - timedelta(days=days_ago)
    run_id = store.begin_run(as_of=as_of, mode="run")
    key_counts = (2, 3, 4)
    growth = (
        [{"kind": "key_list_growth", "message": "the key list grew from 3 to 4", "accounts": []}]
        if index == 2
        else []
    )
    store.finish_run(
        run_id,
        status="ok",
        counts={
            "accounts_written": 5 - index,
            "fields_written": 20 - index,
            "write_failures": index,
            "quarantined": {"account": index},
            "key_cap": 3,
        },
        api_calls={"auth": 1, "query": 4 + index, "write": 1},
        alerts=growth,
        exit_code=3 if growth else 0,
    )
    frame = pl.DataFrame(
        {
            "account_id": list(SCORES),
            "score": [s[index] for s in SCORES.values()],
            "tier": [_tier(s[index]) for s in SCORES.values()],
        }
    )
    with store.transaction() as conn:
        conn.execute(
            schema.key_list_history.insert().values(
                run_id=run_id,
                as_of=as_of,
                key_count=key_counts[index],
                in_scope_count=5,
                added=["001A03"] if index == 2 else [],
                removed=[],
            )
        )
        save_scores(conn, store, run_id=run_id, as_of=as_of, assessments=frame, keep_days=90)
    return run_id


def _queue(store: StateStore, run_id: int) -> None:
    failures = [
        ("001A00", "kam_tier", "strategic", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "refused"),
        ("001A02", "kam_score", 50.0, "UNABLE_TO_LOCK_ROW", "locked"),
    ]
    with store.transaction() as conn:
        record_failures(conn, store, failures[:1], run_id=run_id, retry_limit=5)
        record_failures(conn, store, failures[1:], run_id=run_id, retry_limit=1)  # dead at once


def _last_run_table(root: Path) -> None:
    ids = list(SCORES)
    stages = ["review", "execution", None, "research", "strategy"]
    table = pl.DataFrame(
        {
            "account_id": ids,
            "score": [s[2] for s in SCORES.values()],
            "tier": [_tier(s[2]) for s in SCORES.values()],
            "plan_stage": stages,
            **{
                f"checklist_{c}": [100.0 if i % 2 else 50.0, 100.0, None, 25.0, 0.0]
                for i, c in enumerate(CHECKLIST_CATEGORIES)
            },
            "missing_roles": [[], ["innovator"], [], list(TEAM_ROLES[3:]), list(TEAM_ROLES)],
            "flags": [[], [], [], ["growth_alert"], []],
            "as_of": [NOW] * len(ids),
        }
    )
    path = last_run_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.write_parquet(path)
