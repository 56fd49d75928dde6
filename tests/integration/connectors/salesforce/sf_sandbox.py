"""Helpers for the Salesforce connector's tests against the sandbox CRM."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from kam_sync_connectors.base import CustomFieldSpec, PullRequest
from kam_sync_connectors.salesforce import SalesforceSettings, connect
from kam_sync_connectors.salesforce.connector import SalesforceConnector

TIERS = ("Strategic", "Key", "Emerging", "Watchlist", "None")
OUTPUT_FIELDS = (
    CustomFieldSpec("Account", "KAM_Tier__c", "KAM Tier", "picklist", values=TIERS),
    CustomFieldSpec(
        "Account",
        "KAM_Classification__c",
        "KAM Classification",
        "picklist",
        values=("Existing Key", "Emerging Key", "Not Key"),
    ),
    CustomFieldSpec("Account", "KAM_Score__c", "KAM Score", "number", precision=5, scale=2),
    CustomFieldSpec(
        "Account", "KAM_Score_Explanation__c", "KAM Score Explanation", "longtext", length=32768
    ),
    CustomFieldSpec(
        "Account",
        "KAM_Plan_Stage__c",
        "KAM Plan Stage",
        "picklist",
        values=("Strategy", "Research", "Action Plan", "Execution", "Review"),
    ),
    CustomFieldSpec(
        "Account",
        "KAM_Checklist_Completion__c",
        "KAM Checklist Completion",
        "percent",
        precision=5,
        scale=2,
    ),
    CustomFieldSpec(
        "Account", "KAM_Checklist_Gaps__c", "KAM Checklist Gaps", "longtext", length=32768
    ),
    CustomFieldSpec(
        "Account",
        "KAM_Flags__c",
        "KAM Flags",
        "multipicklist",
        values=(
            "Over Cap",
            "Growth Alert",
            "Review Due",
            "Missing Roles",
            "Manual Override",
            "Tier Override",
            "Waitlisted",
        ),
    ),
    CustomFieldSpec("Account", "KAM_Last_Assessed__c", "KAM Last Assessed", "datetime"),
)
TARGETS = tuple(f.name for f in OUTPUT_FIELDS)


class Sleeps:
    """Records every wait; sleeps for real only briefly (bulk jobs need wall time to finish)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(min(seconds, 0.02))


def connector_for(
    sandbox: Any, sleeps: Sleeps | None = None, **overrides: Any
) -> SalesforceConnector:
    creds = sandbox.credentials
    environ = {
        "KAM_SYNC_SF_CLIENT_ID": creds["client_id"],
        "KAM_SYNC_SF_CLIENT_SECRET": creds["client_secret"],
        "KAM_SYNC_SF_USERNAME": creds["username"],
        "KAM_SYNC_SF_PASSWORD": creds["password"],
        "KAM_SYNC_SF_SECURITY_TOKEN": creds["security_token"],
        "KAM_SYNC_SF_PRIVATE_KEY_FILE": creds["private_key_path"],
    }
    settings: dict[str, Any] = {
        "login_url": sandbox.base_url,
        "ca_bundle": sandbox.ca_cert_path,
        "bulk_poll_interval_seconds": 0.05,
        **overrides,
    }
    sf = connect(SalesforceSettings(**settings), environ, sleep=sleeps or Sleeps())
    sf.set_write_back_targets("Account", TARGETS)
    return sf


def accounts_request(since: datetime | None, until: datetime, *fields: str) -> PullRequest:
    return PullRequest(
        object_name="Account",
        fields=fields or ("Name", "ParentId"),
        since=since,
        until=until,
        id_field="Id",
        modified_field="SystemModstamp",
        deleted_field="IsDeleted",
    )


def requests_of(sandbox: Any, kind: str, method: str | None = None) -> int:
    by_method = sandbox.stats()["requests"].get(kind, {})
    return sum(n for m, n in by_method.items() if method is None or m == method)


def account_ids(sandbox: Any) -> list[str]:
    return sorted(r["Id"] for r in sandbox.app.store.records("Account") if not r.get("IsDeleted"))


def provisioned(sandbox: Any) -> SalesforceConnector:
    report = connector_for(sandbox).provision(OUTPUT_FIELDS)
    assert not report.problems, report.problems
    sandbox.reset_stats()
    return connector_for(sandbox)
