"""Score history and the run history the report draws: key-list size per run, top movers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Connection, and_, exists, func, select
from sqlalchemy.sql import Subquery

from kam_sync.store import schema
from kam_sync.store.store import StateStore

# A score is stored when it moved by at least this much since the account's last stored score:
# scores carry two decimals, so any visible change is kept.
SCORE_CHANGE_RECORDED = 0.005
_ROWS_PER_STATEMENT = 5_000  # below PostgreSQL's 65,535 bind parameters per statement


def save_scores(
    conn: Connection,
    store: StateStore,
    *,
    run_id: int,
    as_of: datetime,
    assessments: pl.DataFrame,
    keep_days: int,
) -> int:
    """Record the scores that changed since each account's last recorded one; prune old rows.

    Returns how many rows were recorded. The first run records every account; a run where
    nothing moved records none. Rows older than ``keep_days`` go, except each account's latest
    row before then (its score at that time, the baseline of a mover over the window).
    """
    sh = schema.score_history
    latest = _latest_scores(sh)
    last = conn.execute(select(latest.c.account_id, latest.c.score)).all()
    before = pl.DataFrame(
        [(a, s) for a, s in last],
        schema={"account_id": pl.String, "old_score": pl.Float64},
        orient="row",
    )
    now = assessments.select("account_id", pl.col("score").cast(pl.Float64), "tier")
    changed = now.join(before, on="account_id", how="left").filter(
        pl.col("score").is_not_null()
        & (
            pl.col("old_score").is_null()
            | ((pl.col("score") - pl.col("old_score")).abs() >= SCORE_CHANGE_RECORDED)
        )
    )
    for start in range(0, changed.height, _ROWS_PER_STATEMENT):
        rows = [
            {
                "account_id": r["account_id"],
                "run_id": run_id,
                "as_of": as_of,
                "score": r["score"],
                "tier": r["tier"],
            }
            for r in changed.slice(start, _ROWS_PER_STATEMENT).iter_rows(named=True)
        ]
        conn.execute(store.upsert_statement(sh, rows, ("account_id", "run_id")), rows)
    cutoff = as_of - timedelta(days=keep_days)
    newer = sh.alias("newer")
    conn.execute(
        sh.delete().where(
            sh.c.as_of < cutoff,
            exists(
                select(newer.c.run_id).where(
                    newer.c.account_id == sh.c.account_id,
                    newer.c.run_id > sh.c.run_id,
                    newer.c.as_of <= cutoff,
                )
            ),
        )
    )
    return changed.height


def _latest_scores(
    sh: Any, *, before_run: int | None = None, at: datetime | None = None
) -> Subquery:
    """Each account's latest recorded score (before ``before_run``, or at or before ``at``)."""
    rank = (
        func.row_number()
        .over(partition_by=sh.c.account_id, order_by=sh.c.run_id.desc())
        .label("rank")
    )
    query = select(sh.c.account_id, sh.c.score, sh.c.tier, sh.c.as_of, rank)
    if before_run is not None:
        query = query.where(sh.c.run_id < before_run)
    if at is not None:
        query = query.where(sh.c.as_of <= at)
    ranked = query.subquery()
    return (
        select(ranked.c.account_id, ranked.c.score, ranked.c.tier, ranked.c.as_of)
        .where(ranked.c.rank == 1)
        .subquery()
    )


@dataclass(frozen=True, slots=True)
class Mover:
    """An account whose score moved between a baseline and the last run."""

    account_id: str
    name: str | None
    score: float
    previous_score: float
    tier: str | None
    previous_tier: str | None

    @property
    def change(self) -> float:
        return self.score - self.previous_score


def score_movers(
    store: StateStore,
    *,
    before_run: int | None = None,
    at: datetime | None = None,
    limit: int,
) -> list[Mover]:
    """The ``limit`` accounts whose score moved most (either way) since a baseline.

    The baseline is each account's score before run ``before_run`` (movers since the last run)
    or at ``at`` (movers over a window); accounts without a score then are not movers. Deleted
    accounts are left out.
    """
    sh = schema.score_history
    acc = schema.account_snapshot
    now = _latest_scores(sh)
    then = _latest_scores(sh, before_run=before_run, at=at)
    change = now.c.score - then.c.score
    query = (
        select(
            now.c.account_id,
            acc.c.name,
            now.c.score,
            then.c.score.label("previous_score"),
            now.c.tier,
            then.c.tier.label("previous_tier"),
        )
        .select_from(now)
        .join(then, then.c.account_id == now.c.account_id)
        .join(acc, and_(acc.c.id == now.c.account_id, acc.c.is_deleted.is_(False)))
        .where(func.abs(change) >= SCORE_CHANGE_RECORDED)
        .order_by(func.abs(change).desc(), now.c.account_id)
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [Mover(**dict(r)) for r in conn.execute(query).mappings()]


@dataclass(frozen=True, slots=True)
class KeyListPoint:
    """The key list after one run: its size, the cap then, and the run's growth alerts."""

    run_id: int
    as_of: datetime
    key_count: int
    in_scope_count: int
    added: int
    removed: int
    cap: int | None
    growth_alerts: tuple[str, ...]  # the messages of the run's key-list growth alerts


GROWTH_ALERT_KINDS = ("key_list_growth", "additions_without_removals")


def key_list_series(store: StateStore, *, limit: int) -> list[KeyListPoint]:
    """The key list over the last ``limit`` runs that recorded one, oldest first."""
    kl = schema.key_list_history
    run = schema.run
    query = (
        select(
            kl.c.run_id,
            kl.c.as_of,
            kl.c.key_count,
            kl.c.in_scope_count,
            kl.c.added,
            kl.c.removed,
            run.c.counts,
            run.c.alerts,
        )
        .select_from(kl)
        .join(run, run.c.id == kl.c.run_id, isouter=True)
        .order_by(kl.c.run_id.desc())
        .limit(limit)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    points = []
    for r in reversed(rows):
        counts = r.counts or {}
        alerts = r.alerts or []
        points.append(
            KeyListPoint(
                run_id=r.run_id,
                as_of=r.as_of,
                key_count=r.key_count,
                in_scope_count=r.in_scope_count,
                added=len(r.added),
                removed=len(r.removed),
                cap=counts.get("key_cap"),
                growth_alerts=tuple(
                    str(a.get("message", "")) for a in alerts if a.get("kind") in GROWTH_ALERT_KINDS
                ),
            )
        )
    return points


def account_names(store: StateStore, ids: list[str]) -> dict[str, str | None]:
    """The names of the given accounts in the snapshot (deleted or not)."""
    acc = schema.account_snapshot
    names: dict[str, str | None] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(ids), _ROWS_PER_STATEMENT):
            part = ids[start : start + _ROWS_PER_STATEMENT]
            names.update(conn.execute(select(acc.c.id, acc.c.name).where(acc.c.id.in_(part))).all())
    return names
