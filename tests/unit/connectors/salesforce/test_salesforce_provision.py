"""Provisioning write-back fields through the Tooling API, idempotently."""

from __future__ import annotations

import json
from typing import Any

import responses
from sf_fakes import API, SleepRecorder, describes, token_ok

from kam_sync_connectors.base import CustomFieldSpec
from kam_sync_connectors.salesforce.connector import connect
from kam_sync_connectors.salesforce.settings import SalesforceSettings

TIER = CustomFieldSpec(
    "Account",
    "KAM_Tier__c",
    "KAM Tier",
    "picklist",
    values=("Strategic", "Key", "Emerging", "Watchlist", "None"),
)
SCORE = CustomFieldSpec("Account", "KAM_Score__c", "KAM Score", "number", precision=5, scale=2)
GAPS = CustomFieldSpec(
    "Account", "KAM_Checklist_Gaps__c", "KAM Checklist Gaps", "longtext", length=32768
)
FLAGS_AS_TEXT = CustomFieldSpec("Account", "KAM_Flags__c", "KAM Flags", "text", length=255)
PS_ID = "0PS000000000001AAA"
USER = "005000000000001AAA"


def permission_set(mocked: responses.RequestsMock, *, exists: bool, granted: list[str]) -> None:
    def query(request: Any) -> tuple[int, dict[str, str], str]:
        q = request.params["q"]
        if "FROM PermissionSet " in q:
            records = [{"Id": PS_ID}] if exists else []
        elif "FROM FieldPermissions" in q:
            records = [
                {"Id": f"01k{n:015d}", "Field": f, "PermissionsRead": True, "PermissionsEdit": True}
                for n, f in enumerate(granted)
            ]
        elif "FROM PermissionSetAssignment" in q:
            records = [{"Id": "0Pa000000000001AAA"}] if exists else []
        else:
            raise AssertionError(q)
        return 200, {}, json.dumps({"done": True, "totalSize": len(records), "records": records})

    mocked.add_callback(responses.GET, f"{API}/query/", callback=query)
    mocked.post(f"{API}/sobjects/PermissionSet", json={"id": PS_ID, "success": True})
    mocked.post(f"{API}/sobjects/PermissionSetAssignment", json={"id": "0Pa1", "success": True})
    mocked.post(f"{API}/sobjects/FieldPermissions", json={"id": "01k1", "success": True})


def sent(mocked: responses.RequestsMock, method: str, url: str) -> list[Any]:
    return [
        json.loads(c.request.body)
        for c in mocked.calls
        if c.request.method == method and c.request.url.split("?")[0] == url
    ]


def test_missing_fields_are_created_and_the_integration_user_gets_edit_access(
    mocked: responses.RequestsMock, environ: dict[str, str], sleeps: SleepRecorder
) -> None:
    token_ok(mocked)
    describes(mocked)
    mocked.post(f"{API}/tooling/sobjects/CustomField", json={"id": "00N1", "success": True})
    permission_set(mocked, exists=False, granted=[])
    sf = connect(SalesforceSettings(), environ, sleep=sleeps)

    report = sf.provision([GAPS])

    assert report.created == ["Account.KAM_Checklist_Gaps__c"] and not report.problems
    (created,) = sent(mocked, "POST", f"{API}/tooling/sobjects/CustomField")
    assert created == {
        "FullName": "Account.KAM_Checklist_Gaps__c",
        "Metadata": {
            "label": "KAM Checklist Gaps",
            "type": "LongTextArea",
            # the mark that tells kam-sync's own fields apart (describe.PROVISIONED_MARK)
            "description": "(kam-sync)",
            "length": 32768,
            "visibleLines": 3,
        },
    }
    assert sent(mocked, "POST", f"{API}/sobjects/PermissionSet") == [
        {"Name": "KAM_Sync_Integration", "Label": "KAM Sync Integration"}
    ]
    (grant,) = sent(mocked, "POST", f"{API}/sobjects/FieldPermissions")
    assert grant["Field"] == "Account.KAM_Checklist_Gaps__c"
    assert grant["ParentId"] == PS_ID
    assert grant["PermissionsRead"] is True and grant["PermissionsEdit"] is True
    assert sent(mocked, "POST", f"{API}/sobjects/PermissionSetAssignment") == [
        {"PermissionSetId": PS_ID, "AssigneeId": USER}
    ]


def test_provisioning_twice_changes_nothing_the_second_time(
    mocked: responses.RequestsMock, environ: dict[str, str], sleeps: SleepRecorder
) -> None:
    token_ok(mocked)
    describes(mocked)
    permission_set(mocked, exists=True, granted=["Account.KAM_Score__c"])
    sf = connect(SalesforceSettings(), environ, sleep=sleeps)

    report = sf.provision([SCORE])

    assert report.unchanged == ["Account.KAM_Score__c"]
    assert not report.created and not report.updated and not report.problems
    assert [c.request.method for c in mocked.calls if "/services/data" in c.request.url] == [
        "GET"
    ] * 4  # describe, permission set, field permissions, assignment


def test_a_picklist_missing_values_gets_them_added(
    mocked: responses.RequestsMock, environ: dict[str, str], sleeps: SleepRecorder
) -> None:
    token_ok(mocked)
    describes(mocked)
    permission_set(mocked, exists=True, granted=["Account.KAM_Tier__c"])
    mocked.get(f"{API}/tooling/query/", json={"records": [{"Id": "00N7"}], "done": True})
    metadata = {
        "label": "KAM Tier",
        "type": "Picklist",
        "valueSet": {
            "restricted": True,
            "valueSetDefinition": {
                "sorted": False,
                "value": [
                    {"fullName": v, "label": v, "default": False}
                    for v in ("Strategic", "Key", "Emerging")
                ],
            },
        },
    }
    mocked.get(
        f"{API}/tooling/sobjects/CustomField/00N7", json={"Id": "00N7", "Metadata": metadata}
    )
    mocked.patch(f"{API}/tooling/sobjects/CustomField/00N7", status=204)
    sf = connect(SalesforceSettings(), environ, sleep=sleeps)

    report = sf.provision([TIER])

    assert report.updated == ["Account.KAM_Tier__c"]
    (patch,) = sent(mocked, "PATCH", f"{API}/tooling/sobjects/CustomField/00N7")
    values = [v["fullName"] for v in patch["Metadata"]["valueSet"]["valueSetDefinition"]["value"]]
    assert values == ["Strategic", "Key", "Emerging", "Watchlist", "None"]


def test_a_field_of_another_type_is_reported_not_changed(
    mocked: responses.RequestsMock, environ: dict[str, str], sleeps: SleepRecorder
) -> None:
    token_ok(mocked)
    describes(mocked)
    sf = connect(SalesforceSettings(), environ, sleep=sleeps)

    report = sf.provision([FLAGS_AS_TEXT])

    assert report.problems == [
        "Account.KAM_Flags__c: exists as type multipicklist, kam-sync needs text; change or "
        "delete the field, or map another one"
    ]
    assert all(c.request.method == "GET" for c in mocked.calls if "/data/" in c.request.url)


def test_describe_is_read_again_after_provisioning(
    mocked: responses.RequestsMock, environ: dict[str, str], sleeps: SleepRecorder
) -> None:
    token_ok(mocked)
    describes(mocked)
    mocked.post(f"{API}/tooling/sobjects/CustomField", json={"id": "00N1", "success": True})
    permission_set(mocked, exists=True, granted=[])
    mocked.get(f"{API}/tooling/query/", json={"records": [], "done": True})
    sf = connect(SalesforceSettings(), environ, sleep=sleeps)
    sf.describe("Account")

    sf.provision([GAPS])
    sf.describe("Account")

    # once before (cached during provisioning), once after: the new field is seen
    assert sf.quota().calls_by_kind["describe"] == 2


def test_describe_marks_the_custom_fields_whose_tooling_description_names_kam_sync(
    mocked: responses.RequestsMock, environ: dict[str, str], sleeps: SleepRecorder
) -> None:
    token_ok(mocked)
    describes(mocked)
    mocked.get(
        f"{API}/tooling/query/",
        json={
            "done": True,
            "records": [
                {
                    "DeveloperName": "KAM_Tier",
                    "NamespacePrefix": None,
                    "Description": "x (kam-sync)",
                },
                {
                    "DeveloperName": "KAM_Flags",
                    "NamespacePrefix": None,
                    "Description": "a person's",
                },
            ],
        },
    )
    sf = connect(SalesforceSettings(), environ, sleep=sleeps)

    fields = sf.describe("Account").fields
    sf.describe("Account")

    assert fields["KAM_Tier__c"].provisioned
    assert not fields["KAM_Flags__c"].provisioned
    assert not fields["Name"].provisioned
    # the descriptions are read once per object, like the describe
    assert sf.quota().calls_by_kind["tooling"] == 1
