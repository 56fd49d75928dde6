"""The typed canonical models stay in step with the canonical tables and the engine's output."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError

from kam_sync import canonical
from kam_sync.default_files import default_files
from kam_sync.models import Account, Assessment, Opportunity
from kam_sync.rules import GovernanceHistory, assess_portfolio, load_rule_pack


def test_account_and_opportunity_models_have_exactly_the_canonical_fields() -> None:
    assert list(Account.model_fields) == list(canonical.ACCOUNT_FIELDS)
    assert list(Opportunity.model_fields) == list(canonical.OPPORTUNITY_FIELDS)


def test_money_is_decimal_and_naive_datetimes_are_refused() -> None:
    account = Account(id="A1", modified_at=datetime(2026, 1, 1, tzinfo=UTC), annual_revenue="12.30")  # type: ignore[arg-type]
    assert account.annual_revenue == Decimal("12.30")
    with pytest.raises(ValidationError, match="timezone"):
        Account(id="A1", modified_at=datetime(2026, 1, 1))


def test_an_assessment_row_from_the_engine_builds_a_valid_assessment(tmp_path: Path) -> None:
    rules = default_files("rules")
    pack, issues = load_rule_pack(
        {k: rules[f"{k}.yaml"] for k in ("scoring", "governance", "checklist", "stages")}
    )
    assert pack is not None and not issues
    as_of = datetime(2026, 11, 1, tzinfo=UTC)
    accounts = pl.DataFrame(
        [
            {
                "id": "A1",
                "name": "Acme",
                "modified_at": as_of,
                "is_deleted": False,
                "annual_revenue": Decimal("5e8"),
            }
        ],
        schema={
            k: canonical.ACCOUNT_SCHEMA[k]
            for k in ("id", "name", "modified_at", "is_deleted", "annual_revenue")
        },
    )
    opportunities = pl.DataFrame(schema=canonical.OPPORTUNITY_SCHEMA)
    result = assess_portfolio(accounts, opportunities, GovernanceHistory.empty(), pack, as_of)
    [row] = result.assessments.to_dicts()
    assessment = Assessment.from_row(row)
    assert assessment.account_id == "A1"
    assert set(assessment.factors) == set(pack.factor_names)
    assert set(assessment.checklist_by_category) == set(canonical.CHECKLIST_CATEGORIES)
