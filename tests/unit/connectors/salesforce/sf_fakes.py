"""Constants and canned responses for the Salesforce connector's `responses` tests."""

from __future__ import annotations

import re
from typing import Any

import responses

LOGIN = "https://login.salesforce.com"
INSTANCE = "https://acme.my.salesforce.com"
API = f"{INSTANCE}/services/data/v62.0"
TOKEN_URL = f"{LOGIN}/services/oauth2/token"


def token_ok(rsps: responses.RequestsMock, token: str = "00Dtoken-1") -> None:
    rsps.post(
        TOKEN_URL,
        json={
            "access_token": token,
            "instance_url": INSTANCE,
            "id": f"{LOGIN}/id/00D000000000001EAA/005000000000001AAA",
            "token_type": "Bearer",
        },
    )


def field(name: str, sf_type: str = "string", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "label": name,
        "type": sf_type,
        "updateable": extra.pop("updateable", name.endswith("__c")),
        "nillable": True,
        "custom": name.endswith("__c"),
        "length": extra.pop("length", 255 if sf_type == "string" else 0),
        "precision": extra.pop("precision", 0),
        "scale": extra.pop("scale", 0),
        "picklistValues": [
            {"value": v, "label": v, "active": True} for v in extra.pop("values", ())
        ],
        "relationshipName": extra.pop("relationship", None),
        "referenceTo": extra.pop("reference_to", []),
    }
    body.update(extra)
    return body


ACCOUNT_DESCRIBE: dict[str, Any] = {
    "name": "Account",
    "fields": [
        field("Id", "id"),
        field("Name"),
        field("IsDeleted", "boolean"),
        field("SystemModstamp", "datetime"),
        field("AnnualRevenue", "currency", precision=18, scale=0),
        field("NumberOfEmployees", "int"),
        field("ParentId", "reference", relationship="Parent", reference_to=["Account"]),
        field("OwnerId", "reference", relationship="Owner", reference_to=["User"]),
        field("KAM_Tier__c", "picklist", values=["Strategic", "Key", "Emerging"]),
        field("KAM_Score__c", "double", precision=5, scale=2),
        field("KAM_Flags__c", "multipicklist", values=["Over Cap", "Review Due"]),
        field("KAM_Last_Assessed__c", "datetime"),
        field("KAM_Formula__c", "double", updateable=False),
    ],
    "childRelationships": [
        {
            "childSObject": "AccountTeamMember",
            "field": "AccountId",
            "relationshipName": "AccountTeamMembers",
        },
        {"childSObject": "Opportunity", "field": "AccountId", "relationshipName": "Opportunities"},
    ],
}
USER_DESCRIBE: dict[str, Any] = {"name": "User", "fields": [field("Id", "id"), field("Name")]}
TEAM_DESCRIBE: dict[str, Any] = {
    "name": "AccountTeamMember",
    "fields": [
        field("Id", "id"),
        field("AccountId", "reference"),
        field("TeamMemberRole", "picklist"),
        field("IsDeleted", "boolean"),
        field("SystemModstamp", "datetime"),
    ],
}


NOTHING_DELETED = {
    "deletedRecords": [],
    "earliestDateAvailable": "2026-10-20T00:00:00.000+0000",
    "latestDateCovered": "2026-11-02T00:00:00.000+0000",
}


def describes(rsps: responses.RequestsMock) -> None:
    for body in (ACCOUNT_DESCRIBE, USER_DESCRIBE, TEAM_DESCRIBE):
        rsps.get(f"{API}/sobjects/{body['name']}/describe", json=body)
    # Incremental pulls read the delete log first; by default it is empty.
    rsps.get(re.compile(rf"{re.escape(API)}/sobjects/\w+/deleted/"), json=NOTHING_DELETED)


class SleepRecorder:
    """A stand-in for time.sleep that records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
