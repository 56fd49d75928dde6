"""``rules/governance.yaml``: the key-account cap, anti-flapping and list-growth alerts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kam_sync.canonical import TIERS
from kam_sync.config.rule_spec.base import Issue, RuleModel
from kam_sync.config.suggest import did_you_mean


class Cap(RuleModel):
    """At most ``max_accounts`` and at most ``max_share`` of in-scope accounts on the key list."""

    max_accounts: int | None = Field(default=None, ge=1)
    max_share: float | None = Field(default=None, gt=0, le=1)
    mode: Literal["enforce", "flag"] = "enforce"


class AntiFlapping(RuleModel):
    """Margins in score points; ``demotion_runs`` consecutive runs below before a demotion."""

    promotion_margin: float = Field(default=0.0, ge=0, le=100)
    demotion_margin: float = Field(default=0.0, ge=0, le=100)
    demotion_runs: int = Field(default=1, ge=1)


class GrowthAlert(RuleModel):
    window_days: int = Field(default=30, ge=1)
    max_growth_percent: float | None = Field(default=None, ge=0)
    max_added_accounts: int | None = Field(default=None, ge=0)
    additions_without_removals_runs: int | None = Field(default=None, ge=1)


class GovernanceFile(RuleModel):
    """The whole of ``rules/governance.yaml``."""

    version: Literal[1] = 1
    key_tiers: list[str] = Field(min_length=1)
    waitlist_tier: str
    cap: Cap | None = None
    anti_flapping: AntiFlapping = AntiFlapping()
    growth_alert: GrowthAlert | None = None

    def semantic_issues(self, tiers: tuple[str, ...]) -> list[Issue]:
        """``tiers``: the tier names of scoring.yaml, in order."""
        found: list[Issue] = []
        for i, name in enumerate(self.key_tiers):
            if name not in tiers:
                found.append((("key_tiers", i), _unknown_tier(name, tiers)))
        if self.waitlist_tier not in tiers:
            found.append((("waitlist_tier",), _unknown_tier(self.waitlist_tier, tiers)))
        elif self.waitlist_tier in self.key_tiers:
            found.append((("waitlist_tier",), "the waitlist tier cannot be one of the key tiers"))
        if self.cap is not None and self.cap.max_accounts is None and self.cap.max_share is None:
            found.append((("cap",), "a cap needs max_accounts, max_share or both"))
        return found


def _unknown_tier(name: str, tiers: tuple[str, ...]) -> str:
    hint = did_you_mean(name, tiers) or did_you_mean(name, TIERS)
    return f"unknown tier '{name}'{hint}; tiers in scoring.yaml: {', '.join(tiers)}"
