"""Salesforce connector (simple-salesforce): ``connect(settings, environ)`` builds one."""

from __future__ import annotations

from kam_sync_connectors.salesforce.connector import SalesforceConnector, connect
from kam_sync_connectors.salesforce.push import PushStoppedByQuota
from kam_sync_connectors.salesforce.settings import SalesforceSettings

__all__ = ["PushStoppedByQuota", "SalesforceConnector", "SalesforceSettings", "connect"]
