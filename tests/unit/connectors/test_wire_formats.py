"""Typed values in, each CRM's wire form out: one place per CRM, the same value either way."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from kam_sync_connectors.hubspot.wire import to_hubspot_value
from kam_sync_connectors.salesforce.wire import csv_cell, json_value

BERLIN_WINTER = timezone(timedelta(hours=1))
STAMP = datetime(2026, 3, 1, 3, 0, 0, 123456, tzinfo=BERLIN_WINTER)


def test_salesforce_writes_a_datetime_in_utc_with_milliseconds_in_json_and_csv_alike() -> None:
    assert json_value(STAMP) == "2026-03-01T02:00:00.123Z"
    assert csv_cell(STAMP) == "2026-03-01T02:00:00.123Z"


def test_salesforce_joins_a_multi_select_with_semicolons_in_json_and_csv_alike() -> None:
    values = ["Over cap", "Review due"]
    assert json_value(values) == csv_cell(values) == "Over cap;Review due"


def test_salesforce_writes_a_date_as_iso_in_json_and_csv_alike() -> None:
    assert json_value(date(2026, 3, 1)) == csv_cell(date(2026, 3, 1)) == "2026-03-01"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("100"), 100),
        (Decimal("1E+2"), 100),
        (Decimal("55.5"), 55.5),
        (Decimal("0.1234567890123456789"), "0.1234567890123456789"),
    ],
)
def test_salesforce_json_numbers_stay_exact(value: Decimal, expected: object) -> None:
    assert json_value(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(Decimal("1E+2"), "100"), (Decimal("1E-7"), "0.0000001"), (1e-07, "0.0000001")],
)
def test_salesforce_csv_numbers_never_use_an_exponent(value: object, expected: str) -> None:
    assert csv_cell(value) == expected


def test_salesforce_csv_sets_null_with_the_bulk_apis_null_cell() -> None:
    assert csv_cell(None) == "#N/A"
    assert csv_cell(False) == "false"


def test_hubspot_writes_a_datetime_as_epoch_milliseconds() -> None:
    assert to_hubspot_value(STAMP) == str(int(STAMP.astimezone(UTC).timestamp() * 1000))


def test_hubspot_numbers_never_use_an_exponent() -> None:
    assert to_hubspot_value(Decimal("1E+2")) == "100"
    assert to_hubspot_value(1e-07) == "0.0000001"
