"""Impact preview: the same portfolio scored under the rules in use and under proposed rules.

Both sides see the same accounts, opportunities, governance history and ``as_of``, so every
difference comes from the rules alone: the tier movement matrix, the accounts promoted and
demoted (with names, scores before and after, and the factors that moved them), the key list
against its cap and the growth alerts under each pack, stage changes and checklist counts.

The portfolio comes from the state store's snapshot (``load_portfolio``: no CRM call), or from
a plan's pull (``kam-sync plan --rules DIR`` hands over what it pulled).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from kam_sync.canonical import TIERS
from kam_sync.config.conditions import ConditionError, compile_condition, filter_records
from kam_sync.config.loader import LoadedProject
from kam_sync.config.mapping import FILTER_SCHEMAS
from kam_sync.config.rule_columns import base_schema, classified_schema, scored_schema, stage_schema
from kam_sync.config.rule_pack import RulePack, load_rule_pack
from kam_sync.engine.frames import ACCOUNT_INPUT_COLUMNS, ENGINE_OPPORTUNITY_COLUMNS, load_snapshot
from kam_sync.errors import ConfigError, KamSyncError
from kam_sync.rules import GovernanceHistory, PortfolioAssessment, assess_portfolio, compute_metrics
from kam_sync.rules.governance import cap_size
from kam_sync.store import StateStore
from kam_sync.store.audit import load_history

RULE_KINDS = ("scoring", "governance", "checklist", "stages")
# Tiers from the top: a move up this list is a promotion.
_TIER_RANK = {name: i for i, name in enumerate(TIERS)}


@dataclass(slots=True)
class Portfolio:
    """What both packs are scored on: in-scope accounts (input columns, with names), the
    opportunities that count, the governance history before this run, and the run's time.

    ``opportunities`` may be a loader: it is read only when a pack needs metrics of its own
    (a pack that rolls the hierarchy up where the other does not).
    """

    accounts: pl.DataFrame
    opportunities: pl.DataFrame | Callable[[], pl.DataFrame]
    history: GovernanceHistory
    as_of: datetime
    _metrics: dict[bool, pl.DataFrame] = field(default_factory=dict)

    def metrics(self, roll_up: bool) -> pl.DataFrame:
        if roll_up not in self._metrics:
            opportunities = self.opportunities
            if callable(opportunities):
                opportunities = opportunities()
            self._metrics[roll_up] = compute_metrics(
                self.accounts, opportunities, self.as_of, roll_up=roll_up
            )
        return self._metrics[roll_up]

    def assess(self, pack: RulePack) -> PortfolioAssessment:
        metrics = self.metrics(pack.scoring.hierarchy.roll_up)
        return assess_portfolio(
            self.accounts, None, self.history, pack, self.as_of, metrics=metrics
        )


def load_portfolio(project: LoadedProject, store: StateStore, as_of: datetime) -> Portfolio:
    """The portfolio as the state store's snapshot holds it (the last run's data), filtered by
    the mapping's record filters as a run filters it. No CRM call."""
    accounts = load_snapshot(store, "account", columns=ACCOUNT_INPUT_COLUMNS)
    return Portfolio(
        accounts=scoped_accounts(project, accounts),
        opportunities=lambda: counted_opportunities(project, store),
        history=load_history(store),
        as_of=as_of,
    )


def scoped_accounts(project: LoadedProject, accounts: pl.DataFrame) -> pl.DataFrame:
    """The accounts the mapping's account filter keeps."""
    record_filter = project.mapping.objects.account.filter
    if not record_filter:
        return accounts
    return filter_records(
        accounts,
        record_filter,
        source=project.files["mapping"],
        where=("objects", "account", "filter"),
        scope="applying the account record filter",
    )


def counted_opportunities(project: LoadedProject, store: StateStore) -> pl.DataFrame:
    """The stored opportunities the mapping's opportunity filter keeps (the metrics' input)."""
    record_filter = project.mapping.objects.opportunity.filter
    if not record_filter:
        return load_snapshot(store, "opportunity", columns=ENGINE_OPPORTUNITY_COLUMNS)
    condition = compile_condition(record_filter, FILTER_SCHEMAS["opportunity"])
    used = set(condition.meta.root_names())
    columns = ENGINE_OPPORTUNITY_COLUMNS + tuple(sorted(used - set(ENGINE_OPPORTUNITY_COLUMNS)))
    return filter_records(
        load_snapshot(store, "opportunity", columns=columns),
        record_filter,
        source=project.files["mapping"],
        where=("objects", "opportunity", "filter"),
        scope="applying the opportunity record filter",
    ).select(ENGINE_OPPORTUNITY_COLUMNS)


def load_proposed_rules(project: LoadedProject, folder: Path) -> tuple[RulePack, list[str]]:
    """The rule pack in ``folder`` (``scoring.yaml``, ``governance.yaml``, ``checklist.yaml``,
    ``stages.yaml``); a file it lacks is taken from the project. Returns the pack and the kinds
    taken from the project. Every problem is a ConfigError at its file:line."""
    if not folder.is_dir():
        raise KamSyncError(f"--rules {folder}: no such folder")
    files: dict[str, Path] = {}
    inherited: list[str] = []
    for kind in RULE_KINDS:
        candidate = folder / f"{kind}.yaml"
        if candidate.is_file():
            files[kind] = candidate
        else:
            files[kind] = project.files[kind]
            inherited.append(kind)
    if len(inherited) == len(RULE_KINDS):
        raise KamSyncError(
            f"--rules {folder}: none of {', '.join(k + '.yaml' for k in RULE_KINDS)} is there"
        )
    pack, issues = load_rule_pack(files)
    if pack is None:
        raise ConfigError(issues)
    return pack, inherited


# -- the comparison ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyListStatus:
    """The key list under one pack: its size, the cap, who is over it, and the alerts."""

    key_accounts: int
    cap: int | None
    cap_mode: str | None
    over_cap: int
    alerts: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "key_accounts": self.key_accounts,
            "cap": self.cap,
            "cap_mode": self.cap_mode,
            "over_cap": self.over_cap,
            "growth_alert": any(a["kind"] != "over_cap" for a in self.alerts),
            "alerts": self.alerts,
        }


@dataclass(frozen=True, slots=True)
class ImpactPreview:
    """What the proposed rules would change. ``to_json`` gives the documented, stable keys."""

    as_of: datetime
    accounts: int
    tier_matrix: dict[str, dict[str, int]]
    tier_changes: list[dict[str, Any]]
    score_changes: int
    key_list: dict[str, KeyListStatus]  # "current", "proposed"
    stage_matrix: dict[str, dict[str, int]]
    stage_counts: dict[str, dict[str, int]]  # "current"/"proposed" -> stage -> accounts
    checklist: dict[str, Any]  # "current"/"proposed" -> counts; "changed" -> accounts

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "accounts": self.accounts,
            "tier_matrix": self.tier_matrix,
            "tier_changes": self.tier_changes,
            "promoted": sum(1 for c in self.tier_changes if c["direction"] == "promoted"),
            "demoted": sum(1 for c in self.tier_changes if c["direction"] == "demoted"),
            "score_changes": self.score_changes,
            "key_list": {side: status.to_json() for side, status in self.key_list.items()},
            "stage_matrix": self.stage_matrix,
            "stage_counts": self.stage_counts,
            "checklist": self.checklist,
        }


def compare(
    portfolio: Portfolio,
    current: RulePack,
    proposed: RulePack,
    *,
    selected: set[str] | None = None,
) -> ImpactPreview:
    """Score ``portfolio`` under both packs and say what moved. ``selected``: only these
    accounts are listed and counted (the packs still see the whole portfolio: caps and
    percentiles depend on it)."""
    before = portfolio.assess(current)
    after = portfolio.assess(proposed)
    names = portfolio.accounts.select(pl.col("id").alias("account_id"), "name")
    wide = _side_by_side(before, after, current, proposed).join(names, on="account_id", how="left")
    if selected is not None:
        wide = wide.filter(pl.col("account_id").is_in(sorted(selected)))
    changed = wide.filter(pl.col("tier_before") != pl.col("tier_after"))
    return ImpactPreview(
        as_of=portfolio.as_of,
        accounts=wide.height,
        tier_matrix=_matrix(wide, "tier_before", "tier_after"),
        tier_changes=_tier_changes(changed, current, proposed),
        score_changes=int(wide.filter(pl.col("score_before") != pl.col("score_after")).height),
        key_list={
            "current": _key_list(before, current),
            "proposed": _key_list(after, proposed),
        },
        stage_matrix=_matrix(
            wide.filter(~pl.col("stage_before").eq_missing(pl.col("stage_after"))),
            "stage_before",
            "stage_after",
        ),
        stage_counts={
            "current": _counts(wide, "stage_before"),
            "proposed": _counts(wide, "stage_after"),
        },
        checklist={
            "current": _checklist(wide, "completion_before"),
            "proposed": _checklist(wide, "completion_after"),
            "changed": int(
                wide.filter(
                    ~pl.col("completion_before").eq_missing(pl.col("completion_after"))
                ).height
            ),
        },
    )


def _side(result: PortfolioAssessment, pack: RulePack, suffix: str) -> pl.DataFrame:
    a = result.assessments
    weights = {n: f.weight for n, f in pack.scoring.factors.items()}
    present = pl.sum_horizontal(
        [pl.col(f"factor_{n}").is_not_null().cast(pl.Float64) * w for n, w in weights.items()]
    )
    points = [
        (pl.col(f"factor_{n}") * w / present * 100).alias(f"points_{n}_{suffix}")
        for n, w in weights.items()
    ]
    return a.select(
        "account_id",
        pl.col("score").alias(f"score_{suffix}"),
        pl.col("tier").fill_null("none").alias(f"tier_{suffix}"),
        pl.col("plan_stage").alias(f"stage_{suffix}"),
        pl.col("checklist_completion").alias(f"completion_{suffix}"),
        *[pl.col(f"factor_{n}").alias(f"factor_{n}_{suffix}") for n in weights],
        *points,
    )


def _side_by_side(
    before: PortfolioAssessment, after: PortfolioAssessment, current: RulePack, proposed: RulePack
) -> pl.DataFrame:
    return _side(before, current, "before").join(
        _side(after, proposed, "after"), on="account_id", how="full", coalesce=True
    )


def _matrix(frame: pl.DataFrame, source: str, target: str) -> dict[str, dict[str, int]]:
    """``{from: {to: accounts}}``, tiers and stages in their canonical order."""
    out: dict[str, dict[str, int]] = {}
    counted = frame.group_by(source, target).len().iter_rows()
    for a, b, n in sorted(counted, key=lambda r: (_order(r[0]), _order(r[1]))):
        out.setdefault(_label(a), {})[_label(b)] = int(n)
    return out


def _label(value: object) -> str:
    return "(none)" if value is None else str(value)


def _order(value: object) -> tuple[int, str]:
    from kam_sync.canonical import PLAN_STAGES

    text = "" if value is None else str(value)
    if text in _TIER_RANK:
        return _TIER_RANK[text], text
    if text in PLAN_STAGES:
        return PLAN_STAGES.index(text), text
    return 99, text


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    rows = frame.filter(pl.col(column).is_not_null()).group_by(column).len().iter_rows()
    return {str(k): int(n) for k, n in sorted(rows, key=lambda r: _order(r[0]))}


def _checklist(frame: pl.DataFrame, column: str) -> dict[str, Any]:
    values = frame[column].drop_nulls()
    return {
        "assessed": values.len(),
        "complete": int((values >= 100).sum()),
        "half_or_more": int((values >= 50).sum()),
        "mean_completion": round(float(values.mean()), 1) if values.len() else None,  # type: ignore[arg-type]
    }


def _key_list(result: PortfolioAssessment, pack: RulePack) -> KeyListStatus:
    a = result.assessments
    governance = pack.governance
    return KeyListStatus(
        key_accounts=int(a.filter(pl.col("tier").is_in(list(governance.key_tiers))).height),
        cap=cap_size(pack, a.height),
        cap_mode=governance.cap.mode if governance.cap is not None else None,
        over_cap=int(a.filter(pl.col("flags").list.contains("over_cap")).height) if a.height else 0,
        alerts=[
            {"kind": alert.kind, "message": alert.message, "accounts": len(alert.account_ids)}
            for alert in result.alerts
        ],
    )


def _tier_changes(
    changed: pl.DataFrame, current: RulePack, proposed: RulePack
) -> list[dict[str, Any]]:
    factors = list(dict.fromkeys([*current.factor_names, *proposed.factor_names]))
    rows: list[dict[str, Any]] = []
    for row in changed.iter_rows(named=True):
        before, after = row["tier_before"], row["tier_after"]
        rank_before = _TIER_RANK.get(before, len(TIERS))
        rank_after = _TIER_RANK.get(after, len(TIERS))
        direction = "promoted" if rank_after < rank_before else "demoted"
        moved: list[dict[str, Any]] = []
        for name in factors:
            fb, fa = row.get(f"factor_{name}_before"), row.get(f"factor_{name}_after")
            pb, pa = row.get(f"points_{name}_before"), row.get(f"points_{name}_after")
            if _same(fb, fa) and _same(pb, pa):
                continue
            moved.append(
                {
                    "factor": name,
                    "label": proposed.factor_label(name)
                    if name in proposed.scoring.factors
                    else current.factor_label(name),
                    "score_before": _round(fb, 3),
                    "score_after": _round(fa, 3),
                    "points_before": _round(pb, 1),
                    "points_after": _round(pa, 1),
                }
            )
        moved.sort(key=lambda m: -abs((m["points_after"] or 0.0) - (m["points_before"] or 0.0)))
        rows.append(
            {
                "account_id": row["account_id"],
                "name": row["name"],
                "from": before,
                "to": after,
                "direction": direction,
                "score_before": row["score_before"],
                "score_after": row["score_after"],
                "factors": moved,
            }
        )
    # Promotions first, then demotions; the largest score moves first within each.
    rows.sort(
        key=lambda r: (
            r["direction"] != "promoted",
            -abs((r["score_after"] or 0.0) - (r["score_before"] or 0.0)),
            r["account_id"],
        )
    )
    return rows


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) < 1e-9


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# -- narrowing down: --select ---------------------------------------------------------------------


def select_accounts(
    spec: str,
    accounts: pl.DataFrame,
    metrics: pl.DataFrame,
    assessments: pl.DataFrame,
    pack: RulePack,
) -> set[str]:
    """The account ids ``spec`` names: a comma-separated list of ids when every item is an
    assessed account's id, else a condition (SQL, as in the rule files) over account columns,
    metrics, ``score``, ``factor_<name>``, ``classification``, ``tier`` and checklist columns.
    A condition that does not check raises ValueError with what is wrong."""
    known = set(assessments["account_id"].to_list())
    items = [item.strip() for item in spec.split(",") if item.strip()]
    if items and all(item in known for item in items):
        return set(items)
    schema = stage_schema(
        classified_schema(scored_schema(base_schema(pack.extra_account_columns), pack.factor_names))
    )
    schema = {**schema, "plan_stage": pl.Utf8()}
    try:
        condition = compile_condition(spec, schema)
    except ConditionError as exc:
        raise ValueError(
            f"'{spec}' is neither a list of assessed account ids nor a condition: {exc}"
        ) from None
    frame = (
        accounts.rename({"id": "account_id"})
        .join(metrics.rename({"id": "account_id"}), on="account_id", how="inner", suffix="_m")
        .join(assessments, on="account_id", how="inner", suffix="_a")
    )
    names = condition.meta.root_names()
    missing = [pl.lit(None, dtype=schema[n]).alias(n) for n in names if n not in frame.columns]
    frame = frame.with_columns(missing) if missing else frame
    return set(frame.filter(condition.fill_null(False))["account_id"].to_list())


def names_of(accounts: pl.DataFrame) -> Mapping[str, str | None]:
    """Account id -> name."""
    return dict(accounts.select("id", "name").iter_rows())
