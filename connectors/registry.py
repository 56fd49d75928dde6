"""Which connector serves which CRM. A new CRM is a new module here and a mapping file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kam_sync_connectors.base import Connector

CRMS = ("salesforce", "hubspot")


def connect(crm: str, settings: Any, environ: Mapping[str, str]) -> Connector:
    """A connector for ``crm`` configured by its settings section, secrets from ``environ``."""
    if crm == "salesforce":
        from kam_sync_connectors.salesforce.connector import connect as connect_salesforce

        return connect_salesforce(settings, environ)
    if crm == "hubspot":
        from kam_sync_connectors.hubspot.connector import connect as connect_hubspot

        return connect_hubspot(settings, environ)
    raise ValueError(f"unknown CRM {crm!r} (known: {', '.join(CRMS)})")
