"""What the HTML report shows, gathered from the state store and the last run's assessments.

The last run's assessments are the table `kam-sync explain` reads (``state/last-run.parquet``,
written by every run before its write-back); the history (run ledger, key list per run, score
history, retry queue) comes from the state store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from kam_sync.canonical import PLAN_STAGES
from kam_sync.config.loader import LoadedProject
from kam_sync.engine.report import LAST_RUN_FILE
from kam_sync.store import StateStore
from kam_sync.store.history import (
    KeyListPoint,
    Mover,
    account_names,
    key_list_series,
    score_movers,
)
from kam_sync.store.writes import RetryItem, retry_items


def last_run_path(root: Path) -> Path:
    """Where a run keeps its assessments (see ``kam_sync.engine.report``)."""
    return root / "state" / LAST_RUN_FILE.format(mode="run")


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run of the ledger, as the run history shows it."""

    run_id: int
    mode: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    exit_code: int | None
    api_calls: dict[str, int]
    accounts_written: int
    fields_written: int
    write_failures: int
    quarantined: int
    alerts: tuple[str, ...]  # alert kinds
    error: str | None

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @classmethod
    def from_ledger(cls, row: dict[str, Any]) -> RunRow:
        counts = row.get("counts") or {}
        return cls(
            run_id=int(row["id"]),
            mode=str(row["mode"]),
            status=str(row["status"]),
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            exit_code=row.get("exit_code"),
            api_calls={str(k): int(v) for k, v in (row.get("api_calls") or {}).items()},
            accounts_written=int(counts.get("accounts_written") or 0),
            fields_written=int(counts.get("fields_written") or 0),
            write_failures=int(counts.get("write_failures") or 0),
            quarantined=sum((counts.get("quarantined") or {}).values()),
            alerts=tuple(str(a.get("kind")) for a in (row.get("alerts") or [])),
            error=row.get("error"),
        )


@dataclass(frozen=True, slots=True)
class QueuedWrite:
    """A write in the retry queue or a dead letter, with the account's name."""

    account_id: str
    name: str | None
    field: str
    attempts: int
    error_code: str | None
    dead: bool


@dataclass(slots=True)
class ReportData:
    """Everything the report draws; each part empty when the store has nothing for it yet."""

    project: str
    crm: str
    generated_at: datetime
    as_of: datetime | None = None  # the assessments' time (the last run that assessed)
    tier_order: tuple[str, ...] = ()
    tier_counts: dict[str, int] = field(default_factory=dict)
    scores: list[float] = field(default_factory=list)
    tier_thresholds: list[tuple[str, float]] = field(default_factory=list)
    stage_counts: dict[str, int] = field(default_factory=dict)  # accounts at each plan stage
    checklist_completion: dict[str, float] = field(default_factory=dict)  # mean %, by category
    checklist_gaps: dict[str, int] = field(default_factory=dict)  # programme accounts below 100 %
    programme_accounts: int = 0
    role_coverage: dict[str, float] = field(default_factory=dict)  # share covering each role, %
    key_list: list[KeyListPoint] = field(default_factory=list)
    movers_last_run: list[Mover] = field(default_factory=list)
    movers_window: list[Mover] = field(default_factory=list)
    mover_window_days: int = 30
    runs: list[RunRow] = field(default_factory=list)
    queue: list[QueuedWrite] = field(default_factory=list)

    last_run: RunRow | None = None  # the latest `run` (not `plan`) of the ledger


def gather(project: LoadedProject, store: StateStore, *, runs: int, now: datetime) -> ReportData:
    """The report's data for ``project``: the last run's portfolio and ``runs`` runs of history."""
    settings = project.config.report
    data = ReportData(
        project=project.root.name or str(project.root),
        crm=project.config.crm.type,
        generated_at=now,
        tier_order=project.rules.tier_names,
        tier_thresholds=[(n, s) for n, s, _ in project.rules.tiers if s is not None],
        mover_window_days=settings.mover_window_days,
    )
    path = last_run_path(project.root)
    if path.exists():
        _portfolio(data, pl.read_parquet(path), project)
    data.runs = [RunRow.from_ledger(r) for r in reversed(store.runs(limit=runs))]
    data.last_run = next((RunRow.from_ledger(r) for r in store.runs(limit=1, mode="run")), None)
    data.key_list = key_list_series(store, limit=runs)
    if data.key_list:
        last = data.key_list[-1]
        data.movers_last_run = score_movers(
            store, before_run=last.run_id, limit=settings.top_movers
        )
        data.movers_window = score_movers(
            store,
            at=last.as_of - timedelta(days=settings.mover_window_days),
            limit=settings.top_movers,
        )
    items = retry_items(store)
    names = account_names(store, sorted({i.account_id for i in items}))
    data.queue = [_queued(i, names.get(i.account_id)) for i in items]
    return data


def _queued(item: RetryItem, name: str | None) -> QueuedWrite:
    return QueuedWrite(
        account_id=item.account_id,
        name=name,
        field=item.field,
        attempts=item.attempts,
        error_code=item.last_error_code,
        dead=item.dead,
    )


def _portfolio(data: ReportData, table: pl.DataFrame, project: LoadedProject) -> None:
    """Tiers, scores, stages, checklist and team roles of the last run's assessments."""
    if table.height:
        data.as_of = table["as_of"].max()  # type: ignore[assignment]
    counts = dict(table.group_by("tier").len().iter_rows())
    data.tier_counts = {t: int(counts.get(t, 0)) for t in data.tier_order} | {
        str(t): int(n) for t, n in counts.items() if t not in data.tier_order
    }
    data.scores = [float(s) for s in table["score"].drop_nulls()]
    # The programme: accounts with a plan stage (the programme tiers of stages.yaml).
    programme = table.filter(pl.col("plan_stage").is_not_null())
    data.programme_accounts = programme.height
    stages = dict(programme.group_by("plan_stage").len().iter_rows())
    data.stage_counts = {s: int(stages.get(s, 0)) for s in PLAN_STAGES}
    for category in project.rules.checklist.categories:
        column = f"checklist_{category}"
        if column not in programme.columns or programme.height == 0:
            continue
        values = programme[column].drop_nulls()
        mean = values.mean() if len(values) else None
        data.checklist_completion[category] = float(mean) if isinstance(mean, int | float) else 0.0
        data.checklist_gaps[category] = int((values < 100).sum())
    if programme.height:
        missing = programme["missing_roles"].fill_null([])
        for role in project.rules.stages.team.required_roles:
            lacking = int(missing.list.contains(role).sum())
            data.role_coverage[role] = 100.0 * (programme.height - lacking) / programme.height
