"""Canonical records as typed models: Account, Opportunity and Assessment.

The pipeline moves records as plain dicts and polars tables for speed; these models are the
typed, validated form of one record (for the store's readers, `explain`, reports and tests).
Their fields are the canonical tables of ``kam_sync.canonical`` (a unit test keeps the two in
step). Money is Decimal; datetimes must be time-zone aware.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Account(_Record):
    """An account (Salesforce Account, HubSpot company) in kam-sync's words."""

    id: str = Field(min_length=1)
    name: str | None = None
    parent_id: str | None = None
    owner_id: str | None = None
    industry: str | None = None
    country: str | None = None
    region: str | None = None
    employees: int | None = None
    annual_revenue: Decimal | None = None  # the company's own size, not our revenue from it
    account_type: str | None = None
    domain: str | None = None
    created_at: AwareDatetime | None = None
    modified_at: AwareDatetime
    is_deleted: bool = False
    # KAM inputs
    tier_override: str | None = None
    relationship_strength: str | None = None
    logo_attractiveness: str | None = None
    strategic_fit: str | None = None
    public_company: bool | None = None
    executive_sponsor: str | None = None
    competitors: list[str] = Field(default_factory=list)
    contacts_engaged: int | None = None
    checklist_answers: list[str] = Field(default_factory=list)
    checklist_not_applicable: list[str] = Field(default_factory=list)
    account_plan_started: date | None = None
    last_review_date: date | None = None
    team_roles: list[str] = Field(default_factory=list)
    # KAM outputs as the CRM holds them now
    kam_tier: str | None = None
    kam_classification: str | None = None
    kam_score: float | None = None
    kam_score_explanation: str | None = None
    kam_plan_stage: str | None = None
    kam_checklist_completion: float | None = None
    kam_checklist_gaps: str | None = None
    kam_flags: list[str] = Field(default_factory=list)
    kam_last_assessed: AwareDatetime | None = None


class Opportunity(_Record):
    """An opportunity (Salesforce Opportunity, HubSpot deal); amounts in the org's currency."""

    id: str = Field(min_length=1)
    account_id: str = Field(min_length=1)
    name: str | None = None
    amount: Decimal | None = None
    stage: str | None = None
    is_closed: bool | None = None
    is_won: bool | None = None
    probability: float | None = Field(default=None, ge=0, le=100)
    opportunity_type: str | None = None  # new_business | renewal | expansion
    close_date: date | None = None
    created_at: AwareDatetime | None = None
    modified_at: AwareDatetime
    is_deleted: bool = False


class Assessment(_Record):
    """What the rules engine concluded about one account on one run."""

    account_id: str
    score: float = Field(ge=0, le=100)
    factors: dict[str, float] = Field(description="factor name -> factor score in [0, 1]")
    score_explanation: str
    classification: str
    tier: str
    previous_tier: str | None = None
    tier_reason: str
    flags: list[str] = Field(default_factory=list)
    cap_rank: int | None = None
    plan_stage: str | None = None
    checklist_completion: float | None = Field(default=None, ge=0, le=100)
    checklist_by_category: dict[str, float | None] = Field(default_factory=dict)
    checklist_gaps: str | None = None
    missing_roles: list[str] = Field(default_factory=list)
    as_of: AwareDatetime

    @classmethod
    def from_row(cls, row: dict[str, object]) -> Assessment:
        """Build from one row of the engine's assessments table."""
        factors = {k.removeprefix("factor_"): v for k, v in row.items() if k.startswith("factor_")}
        categories = {
            k.removeprefix("checklist_"): v
            for k, v in row.items()
            if k.startswith("checklist_") and k not in ("checklist_completion", "checklist_gaps")
        }
        rest = {
            k: v
            for k, v in row.items()
            if not k.startswith("factor_") and k not in {f"checklist_{c}" for c in categories}
        }
        return cls.model_validate({**rest, "factors": factors, "checklist_by_category": categories})
