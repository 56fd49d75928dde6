"""Money metrics are exact Decimals, so the same portfolio always gives the same figures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl

from kam_sync.canonical import ACCOUNT_SCHEMA, MONEY, OPPORTUNITY_SCHEMA
from kam_sync.rules import compute_metrics

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def _tables(order: list[int]) -> tuple[pl.DataFrame, pl.DataFrame]:
    accounts = pl.DataFrame(
        [{"id": "A", "modified_at": AS_OF, "is_deleted": False}],
        schema={k: ACCOUNT_SCHEMA[k] for k in ("id", "modified_at", "is_deleted")},
    )
    amounts = [
        Decimal("0.10"),
        Decimal("1234567.89"),
        Decimal("0.07"),
        Decimal("99999.99"),
        Decimal("0.03"),
    ] * 40
    rows = [
        {
            "id": f"O{i}",
            "account_id": "A",
            "amount": amounts[i],
            "is_closed": False,
            "is_won": False,
            "probability": 33.3,
            "close_date": date(2026, 12, 1),
            "created_at": AS_OF,
            "modified_at": AS_OF,
            "is_deleted": False,
        }
        for i in order
    ]
    schema = {k: OPPORTUNITY_SCHEMA[k] for k in rows[0]}
    return accounts, pl.DataFrame(rows, schema=schema)


def test_weighted_pipeline_is_exact_and_independent_of_row_order() -> None:
    forward = compute_metrics(*_tables(list(range(200))), AS_OF)
    backward = compute_metrics(*_tables(list(reversed(range(200)))), AS_OF)
    amounts = [
        Decimal("0.10"),
        Decimal("1234567.89"),
        Decimal("0.07"),
        Decimal("99999.99"),
        Decimal("0.03"),
    ] * 40
    exact = (sum(amounts) * Decimal("0.333")).quantize(Decimal("0.01"))
    assert forward["weighted_pipeline"].dtype == MONEY
    assert forward["weighted_pipeline"].item() == exact
    assert backward["weighted_pipeline"].item() == exact


def test_the_widest_amounts_kam_sync_keeps_sum_exactly_without_overflow() -> None:
    """24 digits before the point: a thousand such deals per account, won, open and weighted."""
    widest = Decimal("999999999999999999999999.99")
    accounts = pl.DataFrame(
        [{"id": "A", "modified_at": AS_OF, "is_deleted": False}],
        schema={k: ACCOUNT_SCHEMA[k] for k in ("id", "modified_at", "is_deleted")},
    )
    rows = [
        {
            "id": f"O{i}",
            "account_id": "A",
            "amount": widest,
            "is_closed": i % 2 == 0,
            "is_won": i % 2 == 0,
            "probability": 100.0,
            "close_date": date(2026, 10, 1) if i % 2 == 0 else date(2027, 1, 1),
            "created_at": AS_OF,
            "modified_at": AS_OF,
            "is_deleted": False,
        }
        for i in range(1000)
    ]
    opportunities = pl.DataFrame(rows, schema={k: OPPORTUNITY_SCHEMA[k] for k in rows[0]})

    metrics = compute_metrics(accounts, opportunities, AS_OF)

    assert metrics["won_amount_12m"].item() == widest * 500
    assert metrics["open_pipeline"].item() == widest * 500
    assert metrics["weighted_pipeline"].item() == widest * 500
