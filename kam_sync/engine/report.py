"""The last run's assessments, kept beside the store for `kam-sync explain`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from kam_sync.config.loader import LoadedProject
from kam_sync.errors import KamSyncError
from kam_sync.models import Assessment
from kam_sync.rules import PortfolioAssessment
from kam_sync.rules.stages import review_columns
from kam_sync.store import StateStore

LAST_RUN_FILE = "last-{mode}.parquet"


def _path(root: Path, mode: str) -> Path:
    return root / "state" / LAST_RUN_FILE.format(mode=mode)


def save_last_run(root: Path, result: PortfolioAssessment, *, mode: str) -> Path:
    """Store the assessments joined with the metrics they used (atomically replaced)."""
    path = _path(root, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    assessments, metrics = result.assessments, result.metrics
    if "id" in metrics.columns:
        metrics = metrics.rename({"id": "account_id"})
    clashes = set(metrics.columns) & set(assessments.columns) - {"account_id"}
    if not clashes and assessments["account_id"].equals(metrics["account_id"]):
        # Both are sorted by account id, one row each: put side by side without copying.
        table = pl.concat([assessments, metrics.drop("account_id")], how="horizontal")
    else:
        table = assessments.join(metrics, on="account_id", how="left", suffix="_metric")
    tmp = path.with_suffix(".tmp")
    table.write_parquet(tmp)
    tmp.replace(path)
    return path


def explain_account(project: LoadedProject, store: StateStore, account_id: str) -> dict[str, Any]:
    """Score breakdown, classification, tier and reason, cap position, checklist, stage gates."""
    path = _path(project.root, "run")
    if not path.exists():
        raise KamSyncError("no run has been recorded yet; run `kam-sync run` first")
    table = pl.read_parquet(path)
    row_frame = table.filter(pl.col("account_id") == account_id)
    if row_frame.height == 0:
        raise KamSyncError(
            f"account {account_id} was not assessed by the last run (unknown id, deleted, or out of "
            "scope by the mapping's filter)"
        )
    row = row_frame.row(0, named=True)
    assessment_cols = [
        c for c in row if c in Assessment.model_fields or c.startswith(("factor_", "checklist_"))
    ]
    assessment = Assessment.from_row({k: row[k] for k in assessment_cols if k in row})
    account = store.get_record("account", account_id) or {}
    return {
        **assessment.model_dump(),
        "name": account.get("name"),
        "stage_gates": _gates(project, row_frame, account, assessment.as_of),
    }


def _gates(
    project: LoadedProject, row: pl.DataFrame, account: dict[str, Any], as_of: datetime
) -> list[dict[str, Any]]:
    from kam_sync.canonical import ACCOUNT_SCHEMA

    account_frame = pl.DataFrame(
        [{k: account.get(k) for k in ACCOUNT_SCHEMA}], schema=ACCOUNT_SCHEMA
    )
    extra = [c for c in account_frame.columns if c not in row.columns and c != "id"]
    frame = row.join(
        account_frame.select(["id", *extra]).rename({"id": "account_id"}),
        on="account_id",
        how="left",
    )
    frame = frame.with_columns(review_columns(project.rules, as_of))
    specs = {g.stage: g.when for g in project.rules.stages.gates}
    out = []
    reached = True
    for stage, cond in project.rules.gates:
        if cond is None:
            result = "reached" if reached else "not reached (an earlier gate failed)"
        else:
            try:
                ok = bool(frame.select(cond.fill_null(False)).item())
            except Exception as exc:  # a gate naming a column only the engine's frame has
                ok = False
                result = f"cannot be shown here ({type(exc).__name__})"
            else:
                if not reached:
                    result = "not reached (an earlier gate failed)"
                else:
                    result = "reached" if ok else "not reached"
            reached = reached and ok
        out.append({"stage": stage, "when": specs.get(stage), "result": result})
    return out
