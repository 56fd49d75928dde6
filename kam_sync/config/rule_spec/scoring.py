"""``rules/scoring.yaml``: candidacy factors, classification, tiers, explanation, hierarchy."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from kam_sync.canonical import CLASSIFICATIONS, TIERS
from kam_sync.config.rule_spec.base import Issue, RuleModel
from kam_sync.config.suggest import did_you_mean

FACTORS = (
    "current_revenue",
    "growth_potential",
    "renewal_likelihood",
    "win_now_grow_later",
    "relative_effort",
    "relationship_strength",
    "fit",
    "logo_attractiveness",
)

Score01 = Annotated[float, Field(ge=0, le=1)]


class LinearBand(RuleModel):
    """0 at ``low`` or below, 1 at ``high`` or above, a straight line between."""

    type: Literal["linear_band"]
    low: float
    high: float


class LogBand(RuleModel):
    """Like a linear band on a logarithmic axis: for money and counts spanning decades."""

    type: Literal["log_band"]
    low: float = Field(gt=0)
    high: float = Field(gt=0)


class Percentile(RuleModel):
    """The share of scored accounts with a lower value (0 = lowest, 1 = highest)."""

    type: Literal["percentile"]


class Step(RuleModel):
    at: float
    score: Score01


class StepTable(RuleModel):
    """The score of the highest step whose ``at`` is <= the value; below the first step: 0."""

    type: Literal["step_table"]
    steps: list[Step] = Field(min_length=1)


class PicklistMap(RuleModel):
    """A score per picklist value; ``other`` for values not listed."""

    type: Literal["picklist_map"]
    values: dict[str, Score01] = Field(min_length=1)
    other: Score01 = 0.0


class BooleanScale(RuleModel):
    type: Literal["boolean"]
    if_true: Score01 = 1.0
    if_false: Score01 = 0.0


Scale = Annotated[
    LinearBand | LogBand | Percentile | StepTable | PicklistMap | BooleanScale,
    Field(discriminator="type"),
]
NUMERIC_SCALES = ("linear_band", "log_band", "percentile", "step_table")


Label = Annotated[str, Field(min_length=1, max_length=80)]


class Signal(RuleModel):
    """One piece of evidence for a factor: a column (``input``) or a SQL ``expression``.

    ``label`` is what people read in the CRM explanation and in `explain`.
    """

    label: Label | None = None
    input: str | None = None
    expression: str | None = None
    scale: Scale
    direction: Literal["higher_is_better", "lower_is_better"] = "higher_is_better"
    weight: float = Field(default=1.0, ge=0)

    def semantic_issues(self, loc: tuple[str | int, ...]) -> list[Issue]:
        found: list[Issue] = []
        if (self.input is None) == (self.expression is None):
            found.append((loc, "a signal needs exactly one of 'input' (a column) or 'expression'"))
        scale = self.scale
        if isinstance(scale, LinearBand | LogBand) and not scale.low < scale.high:
            found.append(
                (
                    (*loc, "scale", "high"),
                    f"thresholds out of order: high ({scale.high:g}) must be greater than "
                    f"low ({scale.low:g})",
                )
            )
        if isinstance(scale, StepTable):
            for i in range(1, len(scale.steps)):
                if not scale.steps[i].at > scale.steps[i - 1].at:
                    found.append(
                        (
                            (*loc, "scale", "steps", i, "at"),
                            f"thresholds out of order: step 'at' values must increase, got "
                            f"{scale.steps[i].at:g} after {scale.steps[i - 1].at:g}",
                        )
                    )
        return found


class Factor(RuleModel):
    """A candidacy factor: the weighted mean of its signals' scores, each in [0, 1]."""

    label: Label | None = None
    weight: float = Field(ge=0)
    signals: list[Signal] = Field(min_length=1)
    missing: Literal["neutral", "zero", "exclude"] = "neutral"
    neutral_score: Score01 = 0.5


class ClassificationRule(RuleModel):
    name: str
    when: str | None = None


class TierRule(RuleModel):
    name: str
    min_score: float | None = Field(default=None, ge=0, le=100)
    when: str | None = None


class Explanation(RuleModel):
    max_length: int = Field(default=1000, ge=80, le=32768)


class Hierarchy(RuleModel):
    roll_up: bool = False


class ScoringFile(RuleModel):
    """The whole of ``rules/scoring.yaml``."""

    version: Literal[1] = 1
    factors: dict[str, Factor] = Field(min_length=1)
    classification: list[ClassificationRule] = Field(min_length=1)
    tiers: list[TierRule] = Field(min_length=1)
    explanation: Explanation = Explanation()
    hierarchy: Hierarchy = Hierarchy()

    def semantic_issues(self) -> list[Issue]:
        found: list[Issue] = []
        for name, factor in self.factors.items():
            if name not in FACTORS:
                found.append(
                    (
                        ("factors", name),
                        f"unknown factor '{name}'{did_you_mean(name, FACTORS)}; "
                        f"allowed: {', '.join(FACTORS)}",
                    )
                )
            for i, signal in enumerate(factor.signals):
                found += signal.semantic_issues(("factors", name, "signals", i))
            if factor.signals and all(s.weight == 0 for s in factor.signals):
                found.append(
                    (("factors", name, "signals"), "signal weights are all zero; one must be > 0")
                )
        if self.factors and all(f.weight == 0 for f in self.factors.values()):
            found.append((("factors",), "factor weights are all zero; at least one must be > 0"))
        found += _ordered_names(
            "classification", [r.name for r in self.classification], CLASSIFICATIONS
        )
        if self.classification and self.classification[-1].when is not None:
            found.append(
                (
                    ("classification", len(self.classification) - 1, "when"),
                    "the last classification must have no 'when': it catches every other account",
                )
            )
        found += _ordered_names("tiers", [t.name for t in self.tiers], TIERS)
        last_min: float | None = None
        for i, tier in enumerate(self.tiers):
            if tier.min_score is None:
                continue
            if last_min is not None and tier.min_score > last_min:
                found.append(
                    (
                        ("tiers", i, "min_score"),
                        f"thresholds out of order: min_score {tier.min_score:g} of tier "
                        f"'{tier.name}' is above {last_min:g} of a tier listed before it; "
                        "list tiers from highest to lowest",
                    )
                )
            last_min = tier.min_score
        if self.tiers and (self.tiers[-1].when is not None or self.tiers[-1].min_score is not None):
            found.append(
                (
                    ("tiers", len(self.tiers) - 1),
                    "the last tier must have no 'when' and no 'min_score': it catches every "
                    "other account",
                )
            )
        return found


def _ordered_names(section: str, names: list[str], allowed: tuple[str, ...]) -> list[Issue]:
    found: list[Issue] = []
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name not in allowed:
            found.append(
                (
                    (section, i, "name"),
                    f"unknown {section} name '{name}'{did_you_mean(name, allowed)}; "
                    f"allowed: {', '.join(allowed)}",
                )
            )
        elif name in seen:
            found.append(((section, i, "name"), f"'{name}' is listed twice in {section}"))
        seen.add(name)
    return found
