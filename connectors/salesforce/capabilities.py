"""What the engine may ask about Salesforce without connecting: which field types can hold each
canonical kind, which types a write-back target may have, and how many API calls a write costs.
The registry entry (``kam_sync_connectors.registry``) carries these."""

from __future__ import annotations

import math

from kam_sync_connectors.salesforce.settings import SalesforceSettings

# Salesforce field types (describe's ``type``; Object Reference, "Field Types") that can feed
# each canonical kind, keyed by the kind's name.
COMPATIBLE_TYPES: dict[str, frozenset[str]] = {
    "id": frozenset({"id", "reference", "string", "textarea"}),
    "text": frozenset(
        {"string", "picklist", "textarea", "email", "url", "phone", "combobox", "reference", "id"}
    ),
    "integer": frozenset({"int", "double", "currency", "long"}),
    "number": frozenset({"int", "double", "currency", "percent"}),
    "money": frozenset({"currency", "double", "int"}),
    "boolean": frozenset({"boolean"}),
    "date": frozenset({"date", "datetime"}),
    "datetime": frozenset({"datetime", "date"}),
    "text_list": frozenset({"multipicklist", "textarea", "string", "picklist"}),
}

# The Salesforce field types a write-back target of each mapping type may have.
TARGET_TYPES: dict[str, frozenset[str]] = {
    "picklist": frozenset({"picklist", "string"}),
    "multipicklist": frozenset({"multipicklist"}),
    "number": frozenset({"double", "currency", "int"}),
    "percent": frozenset({"percent", "double"}),
    "text": frozenset({"string", "textarea"}),
    "longtext": frozenset({"textarea", "string"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"datetime"}),
    "checkbox": frozenset({"boolean"}),
}

# One Bulk API 2.0 ingest job: create, upload the CSV, close, poll (at least once), results.
BULK_JOB_CALLS = 5


def estimate_write_calls(settings: SalesforceSettings, updates: int) -> dict[str, int]:
    """API calls writing ``updates`` records costs, by kind: one Bulk API 2.0 job above
    ``bulk_write_threshold``, else one sObject Collections call per ``write_batch_size``."""
    if updates == 0:
        return {"write": 0}
    if updates > settings.bulk_write_threshold:
        return {"bulk": BULK_JOB_CALLS}
    return {"write": math.ceil(updates / settings.write_batch_size)}
