"""``rules/stages.yaml``: the programme, the 5-step plan-stage gates, review cadence, team roles."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kam_sync.canonical import PLAN_STAGES, TEAM_ROLES
from kam_sync.config.rule_spec.base import Issue, RuleModel
from kam_sync.config.suggest import did_you_mean


class Gate(RuleModel):
    """A stage is reached when its gate and every earlier gate hold.

    ``label`` names the stage for people; ``requires`` says in words what ``when`` checks.
    """

    stage: str
    label: str | None = Field(default=None, min_length=1, max_length=80)
    requires: str | None = Field(default=None, min_length=1, max_length=300)
    when: str | None = None


class Review(RuleModel):
    cadence_days: int = Field(ge=1)


class Team(RuleModel):
    required_roles: list[str] = Field(default_factory=lambda: list(TEAM_ROLES))


class StagesFile(RuleModel):
    """The whole of ``rules/stages.yaml``."""

    version: Literal[1] = 1
    programme_tiers: list[str] = Field(min_length=1)
    gates: list[Gate] = Field(min_length=1)
    review: Review
    team: Team = Team()

    def semantic_issues(self, tiers: tuple[str, ...]) -> list[Issue]:
        """``tiers``: the tier names of scoring.yaml."""
        found: list[Issue] = []
        for i, name in enumerate(self.programme_tiers):
            if name not in tiers:
                found.append(
                    (
                        ("programme_tiers", i),
                        f"unknown tier '{name}'{did_you_mean(name, tiers)}; "
                        f"tiers in scoring.yaml: {', '.join(tiers)}",
                    )
                )
        order = [g.stage for g in self.gates]
        for i, name in enumerate(order):
            if name not in PLAN_STAGES:
                found.append(
                    (
                        ("gates", i, "stage"),
                        f"unknown stage '{name}'{did_you_mean(name, PLAN_STAGES)}; "
                        f"allowed: {', '.join(PLAN_STAGES)}",
                    )
                )
        known = [n for n in order if n in PLAN_STAGES]
        if known and known != [s for s in PLAN_STAGES if s in known]:
            found.append(
                (
                    ("gates",),
                    f"stages must be listed in the order {', '.join(PLAN_STAGES)} "
                    "(each at most once)",
                )
            )
        for i, role in enumerate(self.team.required_roles):
            if role not in TEAM_ROLES:
                found.append(
                    (
                        ("team", "required_roles", i),
                        f"unknown role '{role}'{did_you_mean(role, TEAM_ROLES)}; "
                        f"allowed: {', '.join(TEAM_ROLES)}",
                    )
                )
        return found
