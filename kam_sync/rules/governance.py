"""List governance: tier override, anti-flapping, the key-account cap, list-growth alerts.

Works on the governed rows (one per account, or one per group when the hierarchy is rolled up)
after scoring and classification. Adds ``previous_tier``, ``tier``, ``tier_reason``,
``cap_rank``, ``runs_below`` and boolean flag columns ``_over_cap``, ``_waitlisted``,
``_tier_override``, ``_growth_alert``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import polars as pl

from kam_sync.config.rule_pack import RulePack
from kam_sync.rules.alignment import attach
from kam_sync.rules.history import Alert, GovernanceHistory, KeyListRun
from kam_sync.rules.tiers import tier_expr


def govern(
    frame: pl.DataFrame, history: GovernanceHistory, pack: RulePack, as_of: datetime
) -> tuple[pl.DataFrame, list[Alert], KeyListRun]:
    """Tiers after override, anti-flapping and cap; the run's alerts and key-list entry."""
    spec = pack.governance
    key_tiers = list(spec.key_tiers)
    flap = spec.anti_flapping
    tier = tier_expr(pack, pl.col("score"))
    state = history.accounts.select(
        pl.col("account_id").alias("_state_id"),
        pl.col("tier").alias("_state_tier"),
        pl.col("runs_below").alias("_runs_below"),
    )
    frame = attach(frame, state, "id", table_key="_state_id").with_columns(
        # First run on an org that already has tiers: what the CRM holds counts as previous.
        pl.coalesce("_state_tier", "kam_tier").alias("previous_tier"),
        tier.alias("_raw"),
    )
    frame = frame.with_columns(
        _tier_at(frame, pack, flap.demotion_margin).alias("_up"),
        _tier_at(frame, pack, -flap.promotion_margin).alias("_down"),
    )
    was_key = pl.col("previous_tier").is_in(key_tiers).fill_null(False)
    raw_key = pl.col("_raw").is_in(key_tiers)
    up_key = pl.col("_up").is_in(key_tiers)
    down_key = pl.col("_down").is_in(key_tiers)
    override = pl.col("tier_override").is_in(pack.tier_names).fill_null(False)
    falling = was_key & ~raw_key
    frame = frame.with_columns(
        pl.when(falling & ~up_key)
        .then(pl.col("_runs_below").fill_null(0) + 1)
        .otherwise(0)
        .cast(pl.Int64)
        .alias("runs_below")
    )
    held = falling & (pl.col("runs_below") < flap.demotion_runs)
    waiting = ~was_key & raw_key & ~down_key
    frame = frame.with_columns(
        pl.when(override)
        .then(pl.col("tier_override"))
        .when(held)
        .then(pl.col("previous_tier"))
        .when(waiting)
        .then(pl.col("_down"))
        .otherwise(pl.col("_raw"))
        .alias("tier"),
        pl.when(override)
        .then(pl.lit("tier override set in the CRM"))
        .when(held & ~up_key)
        .then(
            pl.format(
                "kept in {} (anti-flapping): below the key line for {} of {} runs",
                "previous_tier",
                "runs_below",
                pl.lit(flap.demotion_runs),
            )
        )
        .when(held)
        .then(pl.format("kept in {} (anti-flapping): within the demotion margin", "previous_tier"))
        .when(waiting)
        .then(pl.lit(f"qualifies for {'/'.join(key_tiers)} but not by the promotion margin"))
        .when(falling)
        .then(pl.format("demoted after {} runs below the key line", "runs_below"))
        .otherwise(pl.lit("score and conditions"))
        .alias("tier_reason"),
        override.alias("_tier_override"),
    )
    frame, cap_alert = _apply_cap(frame, pack, override)
    alerts = [cap_alert] if cap_alert else []
    frame, growth_alerts, entry = _growth(frame, history, pack, as_of)
    return frame, alerts + growth_alerts, entry


def _tier_at(frame: pl.DataFrame, pack: RulePack, delta: float) -> pl.Series:
    """The tier each row would get with its score moved by ``delta`` (conditions see it too)."""
    shifted = frame.select(pl.col("score") + delta, *_condition_inputs(frame, pack))
    return shifted.select(tier_expr(pack, pl.col("score")).alias("t"))["t"]


def _condition_inputs(frame: pl.DataFrame, pack: RulePack) -> list[str]:
    """Columns the tier conditions name, other than ``score``."""
    names: set[str] = set()
    for _, _, cond in pack.tiers:
        if cond is not None:
            names.update(cond.meta.root_names())
    return sorted(n for n in names if n != "score" and n in frame.columns)


def cap_size(pack: RulePack, in_scope: int) -> int | None:
    """The number of key accounts allowed for a portfolio of ``in_scope`` governed rows."""
    cap = pack.governance.cap
    if cap is None:
        return None
    limits: list[int] = []
    if cap.max_accounts is not None:
        limits.append(cap.max_accounts)
    if cap.max_share is not None:
        limits.append(max(1, math.floor(cap.max_share * in_scope)))
    return min(limits)


def _apply_cap(
    frame: pl.DataFrame, pack: RulePack, override: pl.Expr
) -> tuple[pl.DataFrame, Alert | None]:
    """Rank the key list (overrides, incumbents, score, revenue, id) and apply the cap."""
    spec = pack.governance
    is_key = pl.col("tier").is_in(spec.key_tiers)
    was_key = pl.col("previous_tier").is_in(spec.key_tiers).fill_null(False)
    ranked = (
        frame.filter(is_key)
        .select(
            "id",
            (~override).alias("_o"),
            (~was_key).alias("_i"),
            "score",
            pl.col("annual_revenue"),
        )
        .sort(
            ["_o", "_i", "score", "annual_revenue", "id"],
            descending=[False, False, True, True, False],
            nulls_last=True,
        )
        .select("id", pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("cap_rank"))
    )
    frame = attach(frame, ranked.rename({"id": "_rank_id"}), "id", table_key="_rank_id")
    limit = cap_size(pack, frame.height)
    if limit is None or spec.cap is None:
        return frame.with_columns(
            pl.lit(False).alias("_over_cap"), pl.lit(False).alias("_waitlisted")
        ), None
    over = (pl.col("cap_rank") > limit).fill_null(False)
    demote = over & ~override if spec.cap.mode == "enforce" else pl.lit(False)
    frame = frame.with_columns(
        over.alias("_over_cap"),
        demote.alias("_waitlisted"),
        pl.when(demote).then(pl.lit(spec.waitlist_tier)).otherwise(pl.col("tier")).alias("tier"),
        pl.when(demote)
        .then(
            pl.format(
                "waitlisted: key-list rank {} is over the cap of {}", "cap_rank", pl.lit(limit)
            )
        )
        .when(over)
        .then(pl.format("over the cap: key-list rank {} of at most {}", "cap_rank", pl.lit(limit)))
        .otherwise(pl.col("tier_reason"))
        .alias("tier_reason"),
    )
    over_ids = frame.filter(pl.col("_over_cap")).sort("cap_rank")["id"].to_list()
    if not over_ids:
        return frame, None
    verb = "waitlisted" if spec.cap.mode == "enforce" else "flagged"
    message = (
        f"{len(over_ids)} account(s) qualify for the key list beyond the cap of {limit}: {verb}"
    )
    return frame, Alert("over_cap", message, tuple(over_ids))


def _growth(
    frame: pl.DataFrame, history: GovernanceHistory, pack: RulePack, as_of: datetime
) -> tuple[pl.DataFrame, list[Alert], KeyListRun]:
    """The run's key-list entry, and growth alerts against the history window."""
    key_tiers = pack.governance.key_tiers
    is_key = pl.col("tier").is_in(key_tiers)
    was_key = pl.col("previous_tier").is_in(key_tiers).fill_null(False)
    counts = frame.select(
        is_key.sum().alias("now"),
        (is_key & ~was_key).sum().alias("added"),
        (~is_key & was_key).sum().alias("removed"),
    ).row(0)
    gone = (
        history.accounts.filter(pl.col("tier").is_in(key_tiers))
        .join(frame.select(pl.col("id").alias("account_id")), on="account_id", how="anti")
        .height
    )
    now, added, removed = int(counts[0]), int(counts[1]), int(counts[2]) + gone
    added_ids = tuple(frame.filter(is_key & ~was_key).sort("id")["id"].to_list()) if added else ()
    entry = KeyListRun(
        as_of=as_of,
        key_count=now,
        added_count=added,
        removed_count=removed,
        added_ids=added_ids,
    )
    spec = pack.governance.growth_alert
    alerts: list[Alert] = []
    flagged: set[str] = set()
    if spec is not None:
        start = as_of - timedelta(days=spec.window_days)
        window = sorted(
            (r for r in history.runs if start <= r.as_of < as_of), key=lambda r: r.as_of
        )
        if window:
            base = window[0].key_count
            growth = now - base
            too_many = spec.max_added_accounts is not None and growth > spec.max_added_accounts
            too_fast = (
                spec.max_growth_percent is not None
                and base > 0
                and growth * 100 / base > spec.max_growth_percent
            )
            if too_many or too_fast:
                # A standing condition: while the list is over its limit, every account added
                # since the window's first run and still on the list keeps the flag, not only
                # those this run added.
                flagged.update(added_ids)
                flagged.update(i for r in window[1:] for i in r.added_ids)
                if added:
                    alerts.append(
                        Alert(
                            "key_list_growth",
                            f"the key list grew from {base} to {now} accounts within "
                            f"{spec.window_days} days (allowed: "
                            f"{_allowed(spec.max_growth_percent, spec.max_added_accounts)})",
                            added_ids,
                        )
                    )
        streak = spec.additions_without_removals_runs
        if streak is not None and added and removed == 0:
            before = (
                sorted(history.runs, key=lambda r: r.as_of)[-(streak - 1) :] if streak > 1 else []
            )
            if len(before) == streak - 1 and all(
                r.added_count > 0 and r.removed_count == 0 for r in before
            ):
                flagged.update(added_ids)
                alerts.append(
                    Alert(
                        "additions_without_removals",
                        f"accounts were added to the key list, none removed, for {streak} runs "
                        "in a row",
                        added_ids,
                    )
                )
    frame = frame.with_columns(
        ((pl.col("id").is_in(sorted(flagged)) & is_key) if flagged else pl.lit(False)).alias(
            "_growth_alert"
        )
    )
    return frame, alerts, entry


def _allowed(percent: float | None, accounts: int | None) -> str:
    parts = []
    if percent is not None:
        parts.append(f"{percent:g} %")
    if accounts is not None:
        parts.append(f"{accounts} accounts")
    return " or ".join(parts) if parts else "no limit"
