"""Canonical records: kam-sync's own words for what every CRM stores.

Mappings translate CRM fields to these names; the rules engine and the store know only these.
Each table is described once, as a polars schema (the rules engine works column-wise) plus the
kind of each field (how raw CRM values are coerced when normalizing).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import polars as pl

# Money is exact: polars Decimal(38, 2) in the rules engine, NUMERIC(38, 2) or decimal text in
# the store. An amount may have at most MONEY_INTEGER_DIGITS digits before the point: that holds
# every Salesforce Currency value (18 digits in all) and leaves the engine room, within 38
# digits, to weight amounts by probability and sum a hundred million of them. A larger amount
# is set aside when normalizing.
MONEY_DIGITS: Final = 38
MONEY_SCALE: Final = 2
MONEY_INTEGER_DIGITS: Final = 24
MONEY: Final = pl.Decimal(MONEY_DIGITS, MONEY_SCALE)
# Whole numbers (employees, contacts) are stored as INTEGER, 32 bits on PostgreSQL.
INTEGER_LIMIT: Final = 2**31 - 1
# Ids are stored as text of at most this many characters (Salesforce ids have 18; HubSpot ids
# are numbers).
ID_MAX_LENGTH: Final = 64
UTC_DATETIME: Final = pl.Datetime("us", "UTC")


class FieldKind(StrEnum):
    """How a raw CRM value is coerced into a canonical value."""

    ID = "id"
    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"  # float: scores, probabilities
    MONEY = "money"  # Decimal
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    TEXT_LIST = "text_list"  # multi-select or ';'-separated lists


_DTYPES: Final[dict[FieldKind, pl.DataType]] = {
    FieldKind.ID: pl.Utf8(),
    FieldKind.TEXT: pl.Utf8(),
    FieldKind.INTEGER: pl.Int64(),
    FieldKind.NUMBER: pl.Float64(),
    FieldKind.MONEY: MONEY,
    FieldKind.BOOLEAN: pl.Boolean(),
    FieldKind.DATE: pl.Date(),
    FieldKind.DATETIME: UTC_DATETIME,
    FieldKind.TEXT_LIST: pl.List(pl.Utf8),
}

TIERS: Final = ("strategic", "key", "emerging", "watchlist", "none")
CLASSIFICATIONS: Final = ("existing_key", "emerging_key", "not_key")
PLAN_STAGES: Final = ("strategy", "research", "action_plan", "execution", "review")
FLAGS: Final = (
    "over_cap",
    "growth_alert",
    "review_due",
    "missing_roles",
    "manual_override",
    "tier_override",
    "waitlisted",
)
TEAM_ROLES: Final = (
    "technical_expert",
    "relationship_manager",
    "collaborator",
    "project_leader",
    "innovator",
    "results_driver",
)
RELATIONSHIP_STRENGTHS: Final = ("weak", "moderate", "strong", "strategic_partner")
LOGO_ATTRACTIVENESS: Final = ("low", "medium", "high", "flagship")
STRATEGIC_FIT: Final = ("low", "medium", "high")
OPPORTUNITY_TYPES: Final = ("new_business", "renewal", "expansion")
CHECKLIST_CATEGORIES: Final = (
    "our_team",
    "account_team",
    "trends",
    "needs",
    "account_info",
    "competitors",
    "value",
    "unknowns",
)

# Canonical fields whose values come from a closed set: value maps must map onto these.
ENUMERATIONS: Final[dict[str, tuple[str, ...]]] = {
    "tier_override": TIERS,
    "relationship_strength": RELATIONSHIP_STRENGTHS,
    "logo_attractiveness": LOGO_ATTRACTIVENESS,
    "strategic_fit": STRATEGIC_FIT,
    "team_roles": TEAM_ROLES,
    "opportunity_type": OPPORTUNITY_TYPES,
    "kam_tier": TIERS,
    "kam_classification": CLASSIFICATIONS,
    "kam_plan_stage": PLAN_STAGES,
    "kam_flags": FLAGS,
}

# Account: the company's own facts, the mapped KAM inputs, and the KAM outputs as the CRM holds
# them now (read back so the diff can tell what changed).
ACCOUNT_FIELDS: Final[dict[str, FieldKind]] = {
    "id": FieldKind.ID,
    "name": FieldKind.TEXT,
    "parent_id": FieldKind.ID,
    "owner_id": FieldKind.ID,
    "industry": FieldKind.TEXT,
    "country": FieldKind.TEXT,
    "region": FieldKind.TEXT,
    "employees": FieldKind.INTEGER,
    "annual_revenue": FieldKind.MONEY,
    "account_type": FieldKind.TEXT,
    "domain": FieldKind.TEXT,
    "created_at": FieldKind.DATETIME,
    "modified_at": FieldKind.DATETIME,
    "is_deleted": FieldKind.BOOLEAN,
    # KAM inputs
    "tier_override": FieldKind.TEXT,
    "relationship_strength": FieldKind.TEXT,
    "logo_attractiveness": FieldKind.TEXT,
    "strategic_fit": FieldKind.TEXT,
    "public_company": FieldKind.BOOLEAN,
    "executive_sponsor": FieldKind.TEXT,
    "competitors": FieldKind.TEXT_LIST,
    "contacts_engaged": FieldKind.INTEGER,
    "checklist_answers": FieldKind.TEXT_LIST,
    "checklist_not_applicable": FieldKind.TEXT_LIST,
    "account_plan_started": FieldKind.DATE,
    "last_review_date": FieldKind.DATE,
    "team_roles": FieldKind.TEXT_LIST,
    # KAM outputs, current CRM values
    "kam_tier": FieldKind.TEXT,
    "kam_classification": FieldKind.TEXT,
    "kam_score": FieldKind.NUMBER,
    "kam_score_explanation": FieldKind.TEXT,
    "kam_plan_stage": FieldKind.TEXT,
    "kam_checklist_completion": FieldKind.NUMBER,
    "kam_checklist_gaps": FieldKind.TEXT,
    "kam_flags": FieldKind.TEXT_LIST,
    "kam_last_assessed": FieldKind.DATETIME,
}

KAM_OUTPUT_FIELDS: Final = tuple(name for name in ACCOUNT_FIELDS if name.startswith("kam_"))

OPPORTUNITY_FIELDS: Final[dict[str, FieldKind]] = {
    "id": FieldKind.ID,
    "account_id": FieldKind.ID,
    "name": FieldKind.TEXT,
    "amount": FieldKind.MONEY,
    "stage": FieldKind.TEXT,
    "is_closed": FieldKind.BOOLEAN,
    "is_won": FieldKind.BOOLEAN,
    "probability": FieldKind.NUMBER,
    "opportunity_type": FieldKind.TEXT,
    "close_date": FieldKind.DATE,
    "created_at": FieldKind.DATETIME,
    "modified_at": FieldKind.DATETIME,
    "is_deleted": FieldKind.BOOLEAN,
}

# Fields a mapping must provide: without them a record cannot be identified or ordered.
REQUIRED_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "account": ("id", "modified_at"),
    "opportunity": ("id", "account_id", "modified_at"),
}

OBJECT_FIELDS: Final[dict[str, dict[str, FieldKind]]] = {
    "account": ACCOUNT_FIELDS,
    "opportunity": OPPORTUNITY_FIELDS,
}


def polars_schema(fields: dict[str, FieldKind]) -> dict[str, pl.DataType]:
    """The polars schema of a canonical table."""
    return {name: _DTYPES[kind] for name, kind in fields.items()}


ACCOUNT_SCHEMA: Final = polars_schema(ACCOUNT_FIELDS)
OPPORTUNITY_SCHEMA: Final = polars_schema(OPPORTUNITY_FIELDS)
