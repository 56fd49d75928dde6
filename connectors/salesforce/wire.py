"""Values as Salesforce's wire formats want them, for the REST (JSON) and Bulk API 2.0 (CSV) writes.

The engine hands the connector typed values (``Decimal``, ``datetime``, ``date``, ``bool``, a
list of picklist values, text); this is the one place that turns them into what Salesforce
parses:

* a dateTime is ISO-8601 in UTC with milliseconds and ``Z`` (``2026-03-01T02:00:00.000Z``;
  Bulk API 2.0 Developer Guide, "Valid Date Format in Records"; REST takes the same form); a
  date is ``YYYY-MM-DD``;
* a multi-select picklist is its values joined by ``;`` (Object Reference, "Multi-Select
  Picklist" field type);
* a number stays exact: an integral Decimal is a JSON integer, a Decimal a float can carry
  exactly is a JSON number, any other is a string Salesforce parses without float rounding; in
  CSV a number is plain decimal notation, never an exponent;
* in Bulk API 2.0 CSV, ``#N/A`` sets a field to null and an empty cell leaves it as it is (Bulk
  API 2.0 Developer Guide, "Valid CSV Record Rows").
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

MULTI_SELECT_SEPARATOR = ";"
NULL_CELL = "#N/A"


def datetime_text(value: datetime) -> str:
    """A dateTime value: UTC, milliseconds, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _text_form(value: Any) -> str | None:
    """The text of the values both formats write the same way, or None for the others."""
    if isinstance(value, datetime):
        return datetime_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return MULTI_SELECT_SEPARATOR.join(str(v) for v in value)
    return None


def json_value(value: Any) -> Any:
    """A value for an sObject Collections (JSON) request."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and abs(value) < 2**53:
            return int(value)
        as_float = float(value)
        # Send a float only when it prints back as the same decimal; otherwise a string, which
        # Salesforce parses into number fields without float rounding.
        return as_float if Decimal(repr(as_float)) == value else format(value, "f")
    text = _text_form(value)
    return value if text is None else text


def csv_cell(value: Any) -> str:
    """A value as a Bulk API 2.0 CSV cell."""
    if value is None:
        return NULL_CELL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    text = _text_form(value)
    return str(value) if text is None else text
