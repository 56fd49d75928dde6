"""Field values: how the sandbox validates what a client writes and formats what it reads.

Inside the store values are typed (str, bool, int, Decimal, date, tz-aware datetime).
On the wire they look as the REST API sends them: datetimes as
`2026-11-01T09:30:00.000+0000`, dates as `2026-11-01`, numbers as JSON numbers, and
multi-select picklists as `;`-joined strings.

Write errors carry Salesforce's status codes (StatusCode enum of the SOAP/REST APIs).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from kam_sync.sandbox.salesforce.ids import normalize_id
from kam_sync.sandbox.salesforce.schema import FieldDef


class RecordError(Exception):
    """A per-record failure, shaped like a SaveResult error."""

    def __init__(self, status_code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.fields = fields or []

    def as_json(self) -> dict[str, Any]:
        """The `errors[]` entry of a SaveResult."""
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}


def format_datetime(value: dt.datetime) -> str:
    """A datetime as the REST API writes it."""
    text = value.isoformat(timespec="milliseconds")
    # The store keeps UTC only, so the offset is "+00:00"; one isoformat call and a slice
    # are several times cheaper than strftime, and a query page formats thousands.
    if text.endswith("+00:00"):
        return text[:-6] + "+0000"
    return format_datetime(value.astimezone(dt.UTC))


def _format_number(value: Any) -> Any:
    # The REST API sends currency, percent and number fields as JSON doubles (`15000.0`,
    # `3.5E8`), whatever their scale; clients get floats and must not assume integers.
    return float(value)


def _identity(value: Any) -> Any:
    return value


def _format_date(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _format_dt(value: Any) -> Any:
    return None if value is None else format_datetime(value)


FORMATTERS: dict[str, Callable[[Any], Any]] = {
    "date": _format_date,
    "datetime": _format_dt,
    "currency": _format_number,
    "double": _format_number,
    "percent": _format_number,
}


def formatter(field_def: FieldDef) -> Callable[[Any], Any]:
    """The function that turns a stored value of this field into its JSON value."""
    return FORMATTERS.get(field_def.type, _identity)


def parse_datetime(text: str) -> dt.datetime | None:
    """A SOQL/REST datetime (`2026-11-01T00:00:00Z`, `...000+0000`), or None if invalid."""
    candidate = text.strip()
    if candidate.endswith("Z"):
        candidate = candidate[:-1] + "+00:00"
    elif len(candidate) > 5 and candidate[-5] in "+-" and candidate[-4:].isdigit():
        candidate = f"{candidate[:-2]}:{candidate[-2:]}"
    try:
        value = dt.datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if value.tzinfo is None:
        return None
    return value.astimezone(dt.UTC)


def parse_date(text: str) -> dt.date | None:
    """A `YYYY-MM-DD` date, or None if invalid."""
    try:
        return dt.date.fromisoformat(text.strip()) if len(text.strip()) == 10 else None
    except ValueError:
        return None


def coerce_for_write(field_def: FieldDef, raw: Any) -> Any:
    """Validate one value a client writes and return its stored form.

    Raises `RecordError` with the status code Salesforce uses for that failure.
    """
    name = field_def.name
    if raw is None or (raw == "" and field_def.type not in ("string", "textarea")):
        if not field_def.nillable and field_def.type != "boolean":
            raise RecordError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name]
            )
        if field_def.type == "boolean":
            return False
        if field_def.restricted and field_def.type == "picklist":
            return None
        return None
    kind = field_def.type
    if kind in ("string", "textarea", "email", "url", "phone"):
        text = raw if isinstance(raw, str) else str(raw)
        if len(text) > field_def.length:
            raise RecordError(
                "STRING_TOO_LONG",
                f"{field_def.label}: data value too large: {text[:60]} "
                f"(max length={field_def.length})",
                [name],
            )
        if kind == "email" and "@" not in text:
            raise RecordError(
                "INVALID_EMAIL_ADDRESS", f"{field_def.label}: invalid email address: {text}", [name]
            )
        return text
    if kind == "picklist":
        text = str(raw)
        if field_def.restricted and text not in field_def.picklist:
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{field_def.label}: bad value for restricted picklist field: {text}",
                [name],
            )
        if len(text) > field_def.length:
            raise RecordError(
                "STRING_TOO_LONG",
                f"{field_def.label}: data value too large: "
                f"{text[:60]} (max length={field_def.length})",
                [name],
            )
        return text
    if kind == "multipicklist":
        values = [v for v in str(raw).split(";") if v != ""]
        if field_def.restricted:
            for value in values:
                if value not in field_def.picklist:
                    raise RecordError(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        f"{field_def.label}: bad value for restricted picklist field: {value}",
                        [name],
                    )
        # Salesforce stores selected values in the picklist's order, without repeats.
        order = {value: i for i, value in enumerate(field_def.picklist)}
        unique = sorted(set(values), key=lambda v: (order.get(v, len(order)), v))
        return ";".join(unique) or None
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise _wrong_type(field_def, raw)
    if kind in ("currency", "double", "percent", "int"):
        return _coerce_number(field_def, raw)
    if kind == "date":
        parsed_date = parse_date(raw) if isinstance(raw, str) else None
        if parsed_date is None:
            raise _wrong_type(field_def, raw)
        return parsed_date
    if kind == "datetime":
        parsed = parse_datetime(raw) if isinstance(raw, str) else None
        if parsed is None:
            raise _wrong_type(field_def, raw)
        return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)
    if kind in ("reference", "id"):
        normalized = normalize_id(str(raw))
        if normalized is None:
            raise RecordError(
                "MALFORMED_ID", f"{field_def.label}: id value of incorrect type: {raw}", [name]
            )
        return normalized
    raise _wrong_type(field_def, raw)


def _wrong_type(field_def: FieldDef, raw: Any) -> RecordError:
    return RecordError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{field_def.label}: value not of required type: {raw}",
        [field_def.name],
    )


def _coerce_number(field_def: FieldDef, raw: Any) -> Decimal | int:
    if isinstance(raw, bool):
        raise _wrong_type(field_def, raw)
    try:
        number = Decimal(str(raw))
    except InvalidOperation:
        raise _wrong_type(field_def, raw) from None
    if not number.is_finite():
        raise _wrong_type(field_def, raw)
    if field_def.type == "int":
        digits = field_def.digits or 9
        if number != number.to_integral_value() or abs(number) >= Decimal(10) ** digits:
            raise _out_of_range(field_def, raw)
        return int(number)
    scale = field_def.scale
    quantum = Decimal(1).scaleb(-scale)
    # Salesforce rounds to the field's scale (half up) and then checks the integer digits.
    rounded = number.quantize(quantum, rounding="ROUND_HALF_UP")
    if field_def.precision and abs(rounded) >= Decimal(10) ** (field_def.precision - scale):
        raise _out_of_range(field_def, raw)
    return rounded


def _out_of_range(field_def: FieldDef, raw: Any) -> RecordError:
    return RecordError(
        "NUMBER_OUTSIDE_VALID_RANGE",
        f"{field_def.label}: value outside of valid range on numeric field: {raw}",
        [field_def.name],
    )
