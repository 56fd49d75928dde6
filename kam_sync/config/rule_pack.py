"""Loading the four rule files into one checked, compiled ``RulePack``.

Every problem in every file is collected before anything is returned: invalid rules never reach a
run. Conditions are compiled here, once, against the columns they will see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel

from kam_sync.canonical import ENUMERATIONS
from kam_sync.config import rule_columns as columns
from kam_sync.config.conditions import CheckedCondition, ConditionChecker, ConditionError
from kam_sync.config.issues import ConfigIssue
from kam_sync.config.located import Loc, LocatedDocument, load_located
from kam_sync.config.rule_spec.checklist import ChecklistFile
from kam_sync.config.rule_spec.governance import GovernanceFile
from kam_sync.config.rule_spec.scoring import (
    NUMERIC_SCALES,
    BooleanScale,
    PicklistMap,
    ScoringFile,
    Signal,
)
from kam_sync.config.rule_spec.stages import StagesFile
from kam_sync.config.suggest import did_you_mean
from kam_sync.config.validate import located_issues, validate_document

RULE_FILE_MODELS: dict[str, type[BaseModel]] = {
    "scoring": ScoringFile,
    "governance": GovernanceFile,
    "checklist": ChecklistFile,
    "stages": StagesFile,
}

_NO_LABEL = "{what} has no 'label': the CRM explanation and `explain` show its id instead of words"
_RESULT_COLUMNS = ("score", "classification", "tier", "group_id", "tier_reason", "flags")
_NUMERIC = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64,
            pl.Float32, pl.Float64, pl.Decimal)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CompiledSignal:
    spec: Signal
    label: str  # the input name or expression
    expr: pl.Expr  # the raw value: Float64 for numeric scales, Utf8 / Boolean otherwise
    whole: bool = False  # the source is money or a count: explained without decimals

    @property
    def title(self) -> str:
        """What people read: the rule file's label, else the input name in words."""
        return self.spec.label or humanised(self.label)


@dataclass(frozen=True, slots=True)
class CompiledQuestion:
    id: str
    category: str
    text: str
    evidence: pl.Expr | None
    not_applicable: pl.Expr | None


@dataclass(frozen=True, slots=True)
class LocatedCondition:
    """A compiled condition (or signal expression) with its place in its rule file.

    ``columns`` are the columns it may name; ``place`` is an issue with an empty message at
    its file:line:col, for the error should it fail on a run's data.
    """

    place: ConfigIssue
    checked: CheckedCondition
    columns: Mapping[str, pl.DataType]


@dataclass(frozen=True, slots=True)
class RulePack:
    """The four rule files, validated, with every condition compiled to a polars expression."""

    scoring: ScoringFile
    governance: GovernanceFile
    checklist: ChecklistFile
    stages: StagesFile
    signals: dict[str, list[CompiledSignal]]
    classification: list[tuple[str, pl.Expr | None]]
    tiers: list[tuple[str, float | None, pl.Expr | None]]
    questions: list[CompiledQuestion]
    gates: list[tuple[str, pl.Expr | None]]
    extra_account_columns: dict[str, pl.DataType] = field(default_factory=dict)
    conditions: tuple[LocatedCondition, ...] = ()  # every condition and expression, located
    # Findings that do not stop a run (a factor, signal or stage without a label): `validate`
    # prints them.
    warnings: tuple[ConfigIssue, ...] = ()

    @property
    def tier_names(self) -> tuple[str, ...]:
        return tuple(name for name, _, _ in self.tiers)

    @property
    def factor_names(self) -> list[str]:
        return list(self.scoring.factors)

    def factor_label(self, name: str) -> str:
        """A factor's name for people: its label, else its id in words."""
        factor = self.scoring.factors.get(name)
        return (factor.label if factor is not None else None) or humanised(name)

    def stage_label(self, stage: str) -> str:
        for gate in self.stages.gates:
            if gate.stage == stage and gate.label:
                return gate.label
        return humanised(stage)

    def stage_requirement(self, stage: str) -> str | None:
        """What a stage's gate checks, in words (the rule file's ``requires``)."""
        for gate in self.stages.gates:
            if gate.stage == stage:
                return gate.requires
        return None

    def category_title(self, category: str) -> str:
        body = self.checklist.categories.get(category)
        return body.title if body is not None else humanised(category)


def humanised(name: str) -> str:
    """``won_amount_12m`` -> ``Won amount 12m``: the fallback where a rule file has no label."""
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else name


def load_rule_pack(
    files: Mapping[str, Path],
    *,
    extra_account_columns: Mapping[str, pl.DataType] | None = None,
) -> tuple[RulePack | None, list[ConfigIssue]]:
    """Load ``files`` (keys: scoring, governance, checklist, stages); every problem at once.

    ``extra_account_columns`` are account columns a mapping adds beyond the canonical ones;
    conditions may name them.
    """
    extra = dict(extra_account_columns or {})
    issues: list[ConfigIssue] = []
    reserved = {**columns.METRICS_SCHEMA, **columns.CHECKLIST_COLUMNS, **columns.REVIEW_COLUMNS}
    for name in sorted(set(extra) & (set(reserved) | set(_RESULT_COLUMNS))):
        issues.append(
            ConfigIssue(
                None, None, None,
                f"extra account column '{name}' has the name of a column the rules engine "
                "computes; rename it in the mapping",
            )
        )  # fmt: skip
    for key in files:
        if key not in RULE_FILE_MODELS:
            issues.append(
                ConfigIssue(
                    Path(files[key]), None, None,
                    f"unknown rule file kind '{key}'{did_you_mean(key, RULE_FILE_MODELS)}; "
                    f"allowed: {', '.join(RULE_FILE_MODELS)}",
                )
            )  # fmt: skip
    docs: dict[str, LocatedDocument] = {}
    models: dict[str, Any] = {}
    for key, model in RULE_FILE_MODELS.items():
        if key not in files:
            issues.append(ConfigIssue(None, None, None, f"rule file '{key}' is not configured"))
            continue
        doc, found = load_located(Path(files[key]))
        issues += found
        if doc is None:
            continue
        docs[key] = doc
        value, found = validate_document(doc, model)
        issues += found
        if value is not None:
            models[key] = value
    compiled = _Compiler(docs, extra)
    scoring: ScoringFile | None = models.get("scoring")
    if scoring is not None:
        compiled.scoring(scoring)
    tiers = tuple(t.name for t in scoring.tiers) if scoring else None
    governance: GovernanceFile | None = models.get("governance")
    if governance is not None and tiers is not None:
        compiled.add("governance", governance.semantic_issues(tiers))
    checklist: ChecklistFile | None = models.get("checklist")
    if checklist is not None:
        compiled.checklist(checklist)
    stages: StagesFile | None = models.get("stages")
    if stages is not None and tiers is not None and scoring is not None:
        compiled.stages(stages, tiers, scoring)
    issues += compiled.issues
    if issues or scoring is None or governance is None or checklist is None or stages is None:
        return None, sorted(issues, key=ConfigIssue.sort_key)
    pack = RulePack(
        scoring=scoring,
        governance=governance,
        checklist=checklist,
        stages=stages,
        signals=compiled.signals,
        classification=compiled.classification,
        tiers=compiled.tiers,
        questions=compiled.questions,
        gates=compiled.gates,
        extra_account_columns=extra,
        conditions=tuple(compiled.located),
        warnings=tuple(sorted(compiled.label_warnings(), key=ConfigIssue.sort_key)),
    )
    return pack, []


class _Compiler:
    """Semantic checks and condition compilation, collecting issues instead of raising."""

    def __init__(self, docs: dict[str, LocatedDocument], extra: dict[str, pl.DataType]) -> None:
        self.docs = docs
        self.issues: list[ConfigIssue] = []
        self.base = columns.base_schema(extra)
        self.signals: dict[str, list[CompiledSignal]] = {}
        self.classification: list[tuple[str, pl.Expr | None]] = []
        self.tiers: list[tuple[str, float | None, pl.Expr | None]] = []
        self.questions: list[CompiledQuestion] = []
        self.gates: list[tuple[str, pl.Expr | None]] = []
        self.located: list[LocatedCondition] = []
        self.exact: dict[str, list[object]] = {}  # samples of computed columns, as rules allow
        self._checkers: dict[tuple[str, ...], ConditionChecker] = {}
        self._scoring: ScoringFile | None = None
        self._stages: StagesFile | None = None

    def add(self, key: str, pairs: list[tuple[Loc, str]]) -> None:
        self.issues += located_issues(self.docs[key], pairs)

    def checked(
        self,
        key: str,
        loc: Loc,
        text: str,
        schema: Mapping[str, pl.DataType],
        *,
        boolean: bool = True,
    ) -> CheckedCondition | None:
        """Check ``text`` over ``schema`` (allow-list, names, types, sample values)."""
        what = "condition" if boolean else "expression"
        try:
            checked = self._checker(schema).check(text, boolean=boolean, what=what)
        except ConditionError as exc:
            self.add(key, [(loc, problem) for problem in exc.problems])
            return None
        place = self.docs[key].issue(loc, "", prefer_key=True)
        self.located.append(LocatedCondition(place, checked, schema))
        return checked

    def condition(
        self, key: str, loc: Loc, text: str | None, schema: Mapping[str, pl.DataType]
    ) -> pl.Expr | None:
        if text is None:
            return None
        checked = self.checked(key, loc, text, schema)
        return checked.expr.fill_null(False) if checked is not None else None

    def _checker(self, schema: Mapping[str, pl.DataType]) -> ConditionChecker:
        key = tuple(schema)
        if key not in self._checkers:
            self._checkers[key] = ConditionChecker(schema, allowed=ENUMERATIONS, exact=self.exact)
        return self._checkers[key]

    def scoring(self, spec: ScoringFile) -> None:
        self._scoring = spec
        self.add("scoring", spec.semantic_issues())
        for name, factor in spec.factors.items():
            compiled: list[CompiledSignal] = []
            for i, signal in enumerate(factor.signals):
                found = self._signal(signal, ("factors", name, "signals", i))
                if found is not None:
                    compiled.append(found)
            self.signals[name] = compiled
        self.exact.update(
            columns.computed_samples(
                list(spec.factors),
                [c.name for c in spec.classification],
                [t.name for t in spec.tiers],
            )
        )
        scored = columns.scored_schema(self.base, list(spec.factors))
        for i, rule in enumerate(spec.classification):
            expr = self.condition("scoring", ("classification", i, "when"), rule.when, scored)
            self.classification.append((rule.name, expr))
        classified = columns.classified_schema(scored)
        for i, tier in enumerate(spec.tiers):
            expr = self.condition("scoring", ("tiers", i, "when"), tier.when, classified)
            self.tiers.append((tier.name, tier.min_score, expr))

    def _signal(self, signal: Signal, loc: Loc) -> CompiledSignal | None:
        scale = signal.scale
        if signal.input is not None:
            if signal.input not in self.base:
                hint = did_you_mean(signal.input, self.base)
                self.add(
                    "scoring",
                    [((*loc, "input"), f"unknown input '{signal.input}'{hint}; inputs are "
                      "account columns and metrics (or write an 'expression')")],
                )  # fmt: skip
                return None
            expr, dtype, label = pl.col(signal.input), self.base[signal.input], signal.input
            where: Loc = (*loc, "input")
        elif signal.expression is not None:
            where = (*loc, "expression")
            checked = self.checked("scoring", where, signal.expression, self.base, boolean=False)
            if checked is None:
                return None
            expr, dtype, label = checked.expr, checked.dtype, signal.expression
        else:
            return None  # reported by the model's semantic checks
        if scale.type in NUMERIC_SCALES:
            if not isinstance(dtype, _NUMERIC) and dtype not in _NUMERIC and dtype != pl.Boolean:
                self.add("scoring", [(where, f"a {scale.type} scale needs a number, but "
                                      f"'{label}' is {dtype}")])  # fmt: skip
                return None
            expr = expr.cast(pl.Float64)
        elif isinstance(scale, PicklistMap):
            if dtype != pl.Utf8:
                self.add("scoring", [(where, f"a picklist_map scale needs text, but "
                                      f"'{label}' is {dtype}")])  # fmt: skip
                return None
            allowed = ENUMERATIONS.get(label)
            if allowed is not None:
                for value in scale.values:
                    if value not in allowed:
                        self.add(
                            "scoring",
                            [((*loc, "scale", "values", value),
                              f"unknown value '{value}' for {label}{did_you_mean(value, allowed)}; "
                              f"allowed: {', '.join(allowed)}")],
                        )  # fmt: skip
        elif isinstance(scale, BooleanScale) and dtype != pl.Boolean:
            self.add("scoring", [(where, f"a boolean scale needs true/false, but "
                                  f"'{label}' is {dtype}")])  # fmt: skip
            return None
        whole = dtype.is_integer() or isinstance(dtype, pl.Decimal)
        return CompiledSignal(spec=signal, label=label, expr=expr, whole=whole)

    def checklist(self, spec: ChecklistFile) -> None:
        self.add("checklist", spec.semantic_issues())
        for category, body in spec.categories.items():
            for i, q in enumerate(body.questions):
                loc: Loc = ("categories", category, "questions", i)
                evidence = self.condition("checklist", (*loc, "evidence"), q.evidence, self.base)
                na = self.condition(
                    "checklist", (*loc, "not_applicable_when"), q.not_applicable_when, self.base
                )
                self.questions.append(CompiledQuestion(q.id, category, q.text, evidence, na))

    def label_warnings(self) -> list[ConfigIssue]:
        """A factor, signal or stage without a label: explanations then show its id."""
        found: list[ConfigIssue] = []
        scoring = self.docs.get("scoring")
        if scoring is not None and self._scoring is not None:
            for name, factor in self._scoring.factors.items():
                if factor.label is None:
                    found.append(scoring.issue(("factors", name), _NO_LABEL.format(
                        what=f"factor '{name}'"), prefer_key=True))  # fmt: skip
                for i, signal in enumerate(factor.signals):
                    if signal.label is None:
                        found.append(scoring.issue(("factors", name, "signals", i), _NO_LABEL.format(
                            what=f"signal {i + 1} of factor '{name}'")))  # fmt: skip
        stages = self.docs.get("stages")
        if stages is not None and self._stages is not None:
            for i, gate in enumerate(self._stages.gates):
                if gate.label is None or (gate.when is not None and gate.requires is None):
                    found.append(stages.issue(("gates", i), f"stage '{gate.stage}' has no "
                        "'label' and 'requires' (what its gate checks, in words): `explain` "
                        "shows its id and SQL instead"))  # fmt: skip
        return found

    def stages(self, spec: StagesFile, tiers: tuple[str, ...], scoring: ScoringFile) -> None:
        self._stages = spec
        self.add("stages", spec.semantic_issues(tiers))
        schema = columns.stage_schema(
            columns.classified_schema(columns.scored_schema(self.base, list(scoring.factors)))
        )
        for i, gate in enumerate(spec.gates):
            expr = self.condition("stages", ("gates", i, "when"), gate.when, schema)
            self.gates.append((gate.stage, expr))
