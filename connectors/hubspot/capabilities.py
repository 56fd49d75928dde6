"""What the engine may ask about HubSpot without connecting: which property types can hold each
canonical kind, which types a write-back target may have, and how many API calls a write costs.
The registry entry (``kam_sync_connectors.registry``) carries these."""

from __future__ import annotations

import math

from kam_sync_connectors.hubspot.settings import HubSpotSettings

# HubSpot property types (the properties API's ``type``: string, number, date, datetime,
# enumeration, bool) that can feed each canonical kind, keyed by the kind's name.
# ``hubspot_owner_id`` is an enumeration, hence ``enumeration`` for ids.
COMPATIBLE_TYPES: dict[str, frozenset[str]] = {
    "id": frozenset({"string", "number", "enumeration"}),
    "text": frozenset({"string", "enumeration"}),
    "integer": frozenset({"number"}),
    "number": frozenset({"number"}),
    "money": frozenset({"number"}),
    "boolean": frozenset({"bool", "enumeration"}),
    "date": frozenset({"date", "datetime"}),
    "datetime": frozenset({"datetime", "date"}),
    "text_list": frozenset({"enumeration", "string"}),
}

# The HubSpot property types a write-back target of each mapping type may have.
TARGET_TYPES: dict[str, frozenset[str]] = {
    "picklist": frozenset({"enumeration", "string"}),
    "multipicklist": frozenset({"enumeration"}),
    "number": frozenset({"number"}),
    "percent": frozenset({"number"}),
    "text": frozenset({"string"}),
    "longtext": frozenset({"string"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"datetime"}),
    "checkbox": frozenset({"bool", "enumeration"}),
}


def estimate_write_calls(settings: HubSpotSettings, updates: int) -> dict[str, int]:
    """API calls writing ``updates`` records costs: one batch update per ``write_batch_size``."""
    return {"write": math.ceil(updates / settings.write_batch_size)}
