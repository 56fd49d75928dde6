"""Coerce raw CRM values into canonical Python values.

CRMs send: nulls and empty strings for "no value", numbers as strings (HubSpot sends every
property as a string), Salesforce datetimes like ``2024-05-01T12:00:00.000+0000``, ISO datetimes
with ``Z``, epoch milliseconds (HubSpot dates and datetimes), date-only values, booleans as
``"true"``/``"false"``, and multi-select values separated by ``;`` (both CRMs).
Each coercer returns the value or raises ``ValueError`` with a reason fit for a record error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from kam_sync.canonical import FieldKind

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SF_OFFSET = re.compile(
    r"([+-])(\d{2})(\d{2})$"
)  # Salesforce writes +0000, fromisoformat wants +00:00
_MAX_INTEGER_DIGITS = 40  # well above int64; the store's own limit is checked when normalizing
_DIGITS = re.compile(r"^-?\d{9,}$")  # epoch milliseconds as text


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def to_text(value: Any) -> str | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        raise ValueError(f"expected text, got a {type(value).__name__}")
    text = str(value).strip()
    if "\x00" in text:
        # JSON may carry \u0000; PostgreSQL text cannot hold it, so no store keeps it.
        raise ValueError("the text holds a NUL character (\\u0000), which the store cannot keep")
    return text


def to_integer(value: Any) -> int | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got boolean {value}")
    if isinstance(value, int):
        return value
    try:
        number = to_decimal(value)
    except ValueError:
        raise ValueError(f"expected a whole number, got {value!r}") from None
    if number is None:
        return None
    if number.adjusted() > _MAX_INTEGER_DIGITS:
        # int() of 1e999999999 would build a billion-digit number; no CRM count is that big.
        raise ValueError(f"the number has more than {_MAX_INTEGER_DIGITS} digits")
    if number != number.to_integral_value():
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(number)


def to_number(value: Any) -> float | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got boolean {value}")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {value!r}") from None
    if not math.isfinite(result):
        raise ValueError(f"expected a finite number, got {value!r}")
    return result


def to_decimal(value: Any) -> Decimal | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected an amount, got boolean {value}")
    try:
        # str() first: Decimal(0.1) would carry the float's binary error into money.
        result = (
            Decimal(str(value).strip().replace(",", ""))
            if not isinstance(value, Decimal)
            else value
        )
    except (InvalidOperation, ValueError):
        raise ValueError(f"expected an amount, got {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"expected a finite amount, got {value!r}")
    return result


def to_boolean(value: Any) -> bool | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y"):
        return True
    if text in ("false", "0", "no", "n"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def to_datetime(value: Any) -> datetime | None:
    """A time-zone aware UTC datetime; naive values are taken as UTC, dates as midnight UTC."""
    if _blank(value):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch_ms(value)
    text = str(value).strip()
    if _DIGITS.match(text):
        return _from_epoch_ms(int(text))
    text = _SF_OFFSET.sub(r"\1\2:\3", text)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a date-time, got {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def to_date(value: Any) -> date | None:
    if _blank(value):
        return None
    if isinstance(value, datetime):
        return to_datetime(value).date()  # type: ignore[union-attr]
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch_ms(value).date()
    text = str(value).strip()
    if _DIGITS.match(text):
        return _from_epoch_ms(int(text)).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    parsed = to_datetime(text)
    return parsed.date() if parsed else None


def to_text_list(value: Any) -> list[str] | None:
    if _blank(value):
        return []
    if isinstance(value, list | tuple):
        items = [to_text(v) for v in value]
    elif isinstance(value, str):
        items = [part.strip() for part in value.split(";")]
    else:
        raise ValueError(f"expected a ';'-separated list, got {value!r}")
    return [item for item in dict.fromkeys(items) if item]


def _from_epoch_ms(value: float) -> datetime:
    try:
        return _EPOCH + timedelta(milliseconds=value)
    except OverflowError:
        raise ValueError(f"epoch milliseconds out of range: {value!r}") from None


COERCERS: dict[FieldKind, Callable[[Any], Any]] = {
    FieldKind.ID: to_text,
    FieldKind.TEXT: to_text,
    FieldKind.INTEGER: to_integer,
    FieldKind.NUMBER: to_number,
    FieldKind.MONEY: to_decimal,
    FieldKind.BOOLEAN: to_boolean,
    FieldKind.DATE: to_date,
    FieldKind.DATETIME: to_datetime,
    FieldKind.TEXT_LIST: to_text_list,
}
