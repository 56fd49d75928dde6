"""Governance memory and the audit trail: key-list history, tier history, anti-flapping state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, select

from kam_sync.rules import ACCOUNT_STATE_SCHEMA, GovernanceHistory, KeyListRun, PortfolioAssessment
from kam_sync.store import schema
from kam_sync.store.history import save_scores
from kam_sync.store.store import StateStore

HISTORY_RUNS_KEPT = 400  # about a year of nightly runs; far more than any growth-alert window
_ROWS_PER_STATEMENT = 5_000  # also below PostgreSQL's 65,535 bind parameters per statement


def load_history(store: StateStore) -> GovernanceHistory:
    """The governance history the next run needs (see ``kam_sync.rules.history``)."""
    kl = schema.key_list_history
    gs = schema.governance_state
    with store.engine.connect() as conn:
        recent = conn.execute(
            select(kl.c.as_of, kl.c.key_count, kl.c.added, kl.c.removed)
            .order_by(kl.c.as_of.desc())
            .limit(HISTORY_RUNS_KEPT)
        ).all()
        states = conn.execute(select(gs.c.account_id, gs.c.state)).all()
    runs = tuple(
        KeyListRun(
            as_of=r.as_of,
            key_count=r.key_count,
            added_count=len(r.added),
            removed_count=len(r.removed),
            added_ids=tuple(r.added),
        )
        for r in reversed(recent)
    )
    accounts = pl.DataFrame(
        [(a, s.get("tier"), s.get("runs_below", 0)) for a, s in states],
        schema=ACCOUNT_STATE_SCHEMA,
        orient="row",
    )
    return GovernanceHistory(runs=runs, accounts=accounts)


def save_history(
    conn: Connection,
    store: StateStore,
    *,
    run_id: int,
    as_of: datetime,
    result: PortfolioAssessment,
    previous: GovernanceHistory,
    key_tiers: tuple[str, ...],
    score_history_days: int = 90,
) -> dict[str, Any]:
    """Persist the new governance state, the key-list entry and every tier change with its reason.

    Returns a short account of what changed (for the run's ledger).
    """
    a = result.assessments
    before = previous.accounts.select("account_id", pl.col("tier").alias("old_tier"))
    joined = a.select("account_id", "tier", "tier_reason", "score").join(
        before, on="account_id", how="left"
    )
    changed = joined.filter(~pl.col("tier").eq_missing(pl.col("old_tier")))
    was_key = pl.col("old_tier").is_in(list(key_tiers)).fill_null(False)
    is_key = pl.col("tier").is_in(list(key_tiers)).fill_null(False)
    added = joined.filter(is_key & ~was_key)["account_id"].to_list()
    removed_in_scope = joined.filter(was_key & ~is_key)["account_id"].to_list()
    gone = before.join(a.select("account_id"), on="account_id", how="anti")
    removed_gone = gone.filter(pl.col("old_tier").is_in(list(key_tiers)))["account_id"].to_list()
    removed = removed_in_scope + removed_gone

    # Rows are made a slice at a time: a first run changes the tier of every account.
    for start in range(0, changed.height, _ROWS_PER_STATEMENT):
        rows = [
            {
                "account_id": r["account_id"],
                "run_id": run_id,
                "as_of": as_of,
                "old_tier": r["old_tier"],
                "new_tier": r["tier"],
                "score": r["score"],
                "reason": r["tier_reason"] or "",
            }
            for r in changed.slice(start, _ROWS_PER_STATEMENT).iter_rows(named=True)
        ]
        conn.execute(schema.tier_history.insert(), rows)

    entry = result.key_list_entry
    kl_row = {
        "run_id": run_id,
        "as_of": entry.as_of,
        "key_count": entry.key_count,
        "in_scope_count": a.height,
        "added": sorted(added),
        "removed": sorted(removed),
    }
    conn.execute(store.upsert_statement(schema.key_list_history, [kl_row], ("run_id",)), [kl_row])

    _save_account_state(conn, store, result.history.accounts, previous.accounts, run_id)
    save_scores(
        conn, store, run_id=run_id, as_of=as_of, assessments=a, keep_days=score_history_days
    )
    return {"tier_changes": changed.height, "key_added": len(added), "key_removed": len(removed)}


def _save_account_state(
    conn: Connection, store: StateStore, new: pl.DataFrame, old: pl.DataFrame, run_id: int
) -> None:
    gs = schema.governance_state
    changed = new.join(old, on=["account_id", "tier", "runs_below"], how="anti", nulls_equal=True)
    for start in range(0, changed.height, _ROWS_PER_STATEMENT):
        rows = [
            {
                "account_id": r["account_id"],
                "state": {"tier": r["tier"], "runs_below": r["runs_below"]},
                "updated_run_id": run_id,
            }
            for r in changed.slice(start, _ROWS_PER_STATEMENT).iter_rows(named=True)
        ]
        conn.execute(store.upsert_statement(gs, rows, ("account_id",)), rows)
    gone = old.join(new.select("account_id"), on="account_id", how="anti")["account_id"].to_list()
    for start in range(0, len(gone), _ROWS_PER_STATEMENT):
        ids = gone[start : start + _ROWS_PER_STATEMENT]
        conn.execute(gs.delete().where(gs.c.account_id.in_(ids)))
