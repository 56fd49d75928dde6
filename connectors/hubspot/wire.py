"""Values as HubSpot's property API takes them: every value is a string.

The engine hands the connector typed values (``Decimal``, ``datetime``, ``date``, ``bool``, a
list of options, text); this is the one place that turns them into HubSpot's forms (CRM API,
"Properties": property types and their values):

* ``""`` clears a property;
* a ``bool`` is ``true``/``false``;
* a datetime is epoch milliseconds; a date is ``YYYY-MM-DD``;
* a number is plain decimal notation, never an exponent;
* a multi-select (checkbox enumeration) is its option values joined by ``;``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from kam_sync_connectors.hubspot.search_windows import to_millis

MULTI_SELECT_SEPARATOR = ";"


def to_hubspot_value(value: Any) -> str:
    """A value as HubSpot takes it: strings; "" clears; ``;`` joins multi-select options."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return str(to_millis(value))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, list | tuple | set | frozenset):
        return MULTI_SELECT_SEPARATOR.join(str(v) for v in value)
    return str(value)
