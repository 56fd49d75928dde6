"""Salesforce connector (simple-salesforce): ``connect(settings, environ)`` builds one.

The SDK is imported on first use only, so reading a project's settings (which names both
CRMs' settings models) does not load either CRM's SDK.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SalesforceConnector": "kam_sync_connectors.salesforce.connector",
    "connect": "kam_sync_connectors.salesforce.connector",
    "SalesforceSettings": "kam_sync_connectors.salesforce.settings",
}

__all__ = ["SalesforceConnector", "SalesforceSettings", "connect"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
