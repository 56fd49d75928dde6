"""Canonical KAM output values -> the values a CRM field stores, with each field's precision.

The values stay Python values (Decimal, aware datetime, list of option names): how they are
spelled on the wire is the connectors' business (connectors/*/wire.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from kam_sync.config.mapping import WriteBackTarget
from kam_sync.config.text_fit import TEXT_LENGTH_DEFAULTS

DEFAULT_SCALE = 2
DEFAULT_TEXT_LENGTH = TEXT_LENGTH_DEFAULTS  # one table: the rule texts are fitted to it too


def scale_of(target: WriteBackTarget) -> int:
    return target.scale if target.scale is not None else DEFAULT_SCALE


def text_length(target: WriteBackTarget) -> int | None:
    if target.length is not None:
        return target.length
    return DEFAULT_TEXT_LENGTH.get(target.type)


def to_crm(target: WriteBackTarget, value: Any) -> Any:
    """The CRM value for a canonical value (already at the field's precision)."""
    if value is None:
        return None
    if target.type == "picklist":
        return (target.values or {}).get(str(value), str(value))
    if target.type == "multipicklist":
        names = [(target.values or {}).get(v, v) for v in value]
        return names or None
    if target.type in ("number", "percent"):
        # Scores and completion shares are derived floats, not money: rounded to the field's
        # scale (half-even, as Salesforce stores them), exact from here on.
        quantum = Decimal(1).scaleb(-scale_of(target))
        return Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_EVEN)
    if target.type in ("text", "longtext"):
        return str(value)
    if target.type == "datetime":
        stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return stamp.astimezone(UTC).replace(microsecond=0)
    if target.type == "checkbox":
        return bool(value)
    return value
