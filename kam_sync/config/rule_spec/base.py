"""What every rule-file model shares: unknown keys are errors, so a misspelt key is reported."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

Issue = tuple[tuple[str | int, ...], str]


class RuleModel(BaseModel):
    """Base of every rule-file model: strict about keys, immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)
