"""The last run's assessments, kept beside the store, and `kam-sync explain` built from them.

The file holds one row per assessed account: the assessment, the metrics it used, and each
signal's raw value and score (``signal_columns``), so `explain` shows every signal of every
factor without scoring the portfolio again. ``explain_account`` with a proposed rule pack scores
the stored snapshot under it instead (no CRM call).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from kam_sync.canonical import ACCOUNT_SCHEMA
from kam_sync.config.loader import LoadedProject
from kam_sync.config.rule_pack import RulePack
from kam_sync.config.rule_spec.scoring import NUMERIC_SCALES
from kam_sync.errors import KamSyncError
from kam_sync.models import Assessment
from kam_sync.rules import PortfolioAssessment
from kam_sync.rules.assess import signal_columns
from kam_sync.rules.stages import review_columns
from kam_sync.store import StateStore

LAST_RUN_FILE = "last-{mode}.parquet"


def _path(root: Path, mode: str) -> Path:
    return root / "state" / LAST_RUN_FILE.format(mode=mode)


def last_run_table(result: PortfolioAssessment) -> pl.DataFrame:
    """The assessments with the metrics and signal values they used, one row per account."""
    assessments, metrics = result.assessments, result.metrics
    if "id" in metrics.columns:
        metrics = metrics.rename({"id": "account_id"})
    clashes = set(metrics.columns) & set(assessments.columns) - {"account_id"}
    if not clashes and assessments["account_id"].equals(metrics["account_id"]):
        # Both are sorted by account id, one row each: put side by side without copying.
        table = pl.concat([assessments, metrics.drop("account_id")], how="horizontal")
    else:
        table = assessments.join(metrics, on="account_id", how="left", suffix="_metric")
    signals = result.signals
    if signals is not None and signals.width > 1:
        if signals["account_id"].equals(table["account_id"]):
            table = pl.concat([table, signals.drop("account_id")], how="horizontal")
        else:
            table = table.join(signals, on="account_id", how="left", suffix="_signal")
    return table


def save_last_run(root: Path, result: PortfolioAssessment, *, mode: str) -> Path:
    """Store ``last_run_table(result)`` (atomically replaced)."""
    path = _path(root, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    last_run_table(result).write_parquet(tmp)
    tmp.replace(path)
    return path


def explain_account(
    project: LoadedProject,
    store: StateStore,
    account_id: str,
    *,
    rules: RulePack | None = None,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Why an account got its score, tier and stage: every signal of every factor (label, raw
    value, score, weight, contribution), the distance to the next tier, the open checklist
    questions by their text, the stage gates in words, and the currency of money figures.

    Without ``rules``: as the last run assessed it. With ``rules``: the stored snapshot scored
    under that pack at ``as_of`` (default now), with the governance history as it stands.
    """
    if rules is None:
        path = _path(project.root, "run")
        if not path.exists():
            raise KamSyncError("no run has been recorded yet; run `kam-sync run` first")
        pack = project.rules
        table = pl.read_parquet(path).filter(pl.col("account_id") == account_id)
        source = "the last run"
    else:
        from kam_sync.engine.preview import load_portfolio

        pack = rules
        portfolio = load_portfolio(project, store, as_of or datetime.now(UTC))
        table = last_run_table(portfolio.assess(rules)).filter(pl.col("account_id") == account_id)
        source = "the proposed rules, over the stored snapshot"
    if table.height == 0:
        raise KamSyncError(
            f"account {account_id} was not assessed by {source} (unknown id, deleted, or out of "
            "scope by the mapping's filter)"
        )
    row = table.row(0, named=True)
    assessment_cols = [
        c for c in row if c in Assessment.model_fields or c.startswith(("factor_", "checklist_"))
    ]
    assessment = Assessment.from_row({k: row[k] for k in assessment_cols if k in row})
    account = store.get_record("account", account_id) or {}
    frame = _account_frame(pack, table, account, assessment.as_of)
    return {
        **assessment.model_dump(),
        "name": account.get("name"),
        "source": source,
        "currency": money_currency(project, store),
        "factor_details": factor_details(pack, row),
        "next_tier": next_tier(pack, assessment.tier, assessment.score),
        "open_questions": open_questions(pack, frame)
        if assessment.checklist_completion is not None
        else [],
        "stage_gates": _gates(pack, frame),
    }


def money_currency(project: LoadedProject, store: StateStore) -> str:
    """The currency money figures are in, in words: the code the last complete run named (a
    Salesforce org's corporate currency, a HubSpot portal's company currency), else what the
    mapping reads."""
    code = None
    for run in store.runs(limit=20, mode="run"):
        if run.get("status") == "ok":  # an earlier run's code may be stale (mapping changed)
            code = (run.get("counts") or {}).get("currency")
            break
    opportunity = project.mapping.objects.opportunity.field_mappings()
    amount = opportunity.get("amount")
    home = amount is not None and amount.crm == "amount_in_home_currency"
    if project.config.crm.type == "hubspot":
        if home and code:
            return f"{code}, the HubSpot portal's company currency (amount_in_home_currency)"
        if home:
            return "the HubSpot portal's company currency (amount_in_home_currency)"
        return "each deal's own currency (the mapping reads amount, not amount_in_home_currency)"
    if code:
        return str(code)
    return "the CRM's currency (a single-currency org: amounts as the CRM holds them)"


def factor_details(pack: RulePack, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Every factor with every signal: label, raw value, score, weight, contribution (points).

    A factor's points are its score x its weight / the weights of the factors with a score,
    x 100; a signal's contribution is its share of its factor's weighted signal scores.
    """
    weights = {n: f.weight for n, f in pack.scoring.factors.items()}
    present = sum(w for n, w in weights.items() if row.get(f"factor_{n}") is not None) or 1.0
    columns = {(f, i): (raw, score) for f, i, raw, score in signal_columns(pack)}
    out: list[dict[str, Any]] = []
    for name, factor in pack.scoring.factors.items():
        fscore = row.get(f"factor_{name}")
        points = None if fscore is None else fscore * factor.weight / present * 100
        compiled = pack.signals[name]
        scored = [
            (i, sig, row.get(columns[(name, i)][0]), row.get(columns[(name, i)][1]))
            for i, sig in enumerate(compiled)
        ]
        signal_weight = sum(sig.spec.weight for _, sig, _, s in scored if s is not None)
        signals = []
        for _, sig, raw, score in scored:
            contribution = None
            if score is not None and signal_weight and fscore is not None and points is not None:
                contribution = (
                    round(sig.spec.weight * score / signal_weight * factor.weight / present * 100, 2)
                )  # fmt: skip
            signals.append(
                {
                    "label": sig.title,
                    "input": sig.label,
                    "raw": _raw(raw, sig.spec.scale.type, whole=sig.whole),
                    "score": None if score is None else round(score, 3),
                    "weight": sig.spec.weight,
                    "contribution": contribution,
                }
            )
        out.append(
            {
                "factor": name,
                "label": pack.factor_label(name),
                "weight": factor.weight,
                "score": None if fscore is None else round(fscore, 3),
                "points": None if points is None else round(points, 2),
                "missing": factor.missing if all(s[3] is None for s in scored) else None,
                "signals": signals,
            }
        )
    return out


def _raw(value: Any, scale_type: str, *, whole: bool) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if scale_type in NUMERIC_SCALES and whole:
        return round(float(value))
    if isinstance(value, float):
        return round(value, 4)
    return value


def next_tier(pack: RulePack, tier: str, score: float) -> dict[str, Any] | None:
    """The nearest tier above ``tier`` whose ``min_score`` the score has not reached, and the
    points to go; None at the top. ``held`` when the score would already do and only the
    tier's conditions or governance keep the account out."""
    names = [name for name, _, _ in pack.tiers]
    if tier not in names:
        return None
    above = [(n, m) for n, m, _ in reversed(pack.tiers[: names.index(tier)])]
    if not above:
        return None
    for name, min_score in above:
        if min_score is not None and score < min_score:
            return {
                "tier": name,
                "min_score": min_score,
                "points_to_go": round(min_score - score, 2),
            }
    return {"tier": above[0][0], "min_score": above[0][1], "points_to_go": 0.0, "held": True}


def _account_frame(
    pack: RulePack, table: pl.DataFrame, account: dict[str, Any], as_of: datetime
) -> pl.DataFrame:
    """The account's row with its stored input columns and review columns: what checklist
    evidence and stage gates read."""
    account_frame = pl.DataFrame(
        [{k: account.get(k) for k in ACCOUNT_SCHEMA}], schema=ACCOUNT_SCHEMA
    )
    extra = [c for c in account_frame.columns if c not in table.columns and c != "id"]
    frame = table.head(1).join(
        account_frame.select(["id", *extra]).rename({"id": "account_id"}),
        on="account_id",
        how="left",
    )
    return frame.with_columns(review_columns(pack, as_of))


def open_questions(pack: RulePack, frame: pl.DataFrame) -> list[dict[str, str]]:
    """The questions that apply to the account and are not answered, by their text."""
    answers = set(_listed(frame, "checklist_answers"))
    not_applicable = set(_listed(frame, "checklist_not_applicable"))
    out = []
    for q in pack.questions:
        answered = q.id in answers or _holds(frame, q.evidence)
        skipped = q.id in not_applicable or _holds(frame, q.not_applicable)
        if not answered and not skipped:
            out.append(
                {
                    "id": q.id,
                    "category": q.category,
                    "category_title": pack.category_title(q.category),
                    "text": q.text,
                }
            )
    return out


def _listed(frame: pl.DataFrame, column: str) -> list[str]:
    if column not in frame.columns:
        return []
    value = frame[column][0]
    return list(value) if value is not None else []


def _holds(frame: pl.DataFrame, condition: pl.Expr | None) -> bool:
    if condition is None:
        return False
    try:
        return bool(frame.select(condition.fill_null(False)).item())
    except Exception:  # a column only the engine's frame has: not shown as answered
        return False


def _gates(pack: RulePack, frame: pl.DataFrame) -> list[dict[str, Any]]:
    specs = {g.stage: g.when for g in pack.stages.gates}
    out = []
    reached = True
    for stage, cond in pack.gates:
        if cond is None:
            result = "reached" if reached else "not reached (an earlier gate failed)"
            ok = True
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
        out.append(
            {
                "stage": stage,
                "label": pack.stage_label(stage),
                "requires": pack.stage_requirement(stage),
                "when": specs.get(stage),
                "result": result,
            }
        )
    return out
