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


def org_fields(mocked: responses.RequestsMock, fields: dict[str, dict[str, Any]]) -> None:
    """The org's custom fields as the Tooling API lists them: DeveloperName -> Metadata."""
    records = [
        {"Id": f"00N{n:015d}", "DeveloperName": name, "NamespacePrefix": None}
        for n, name in enumerate(fields)
    ]
    mocked.get(f"{API}/tooling/query/", json={"done": True, "records": records})
    for record, metadata in zip(records, fields.values(), strict=True):
        mocked.get(
            f"{API}/tooling/sobjects/CustomField/{record['Id']}",
            json={"Id": record["Id"], "Metadata": metadata},
        )
        mocked.patch(f"{API}/tooling/sobjects/CustomField/{record['Id']}", status=204)


def picklist_metadata(label: str, values: tuple[str, ...], description: str) -> dict[str, Any]:
    return {
        "label": label,
        "type": "Picklist",
        "description": description,
        "valueSet": {
            "restricted": True,
            "valueSetDefinition": {
                "sorted": False,
                "value": [{"fullName": v, "label": v, "default": False} for v in values],
            },
        },
    }


SCORE_METADATA = {
    "label": "KAM Score",
    "type": "Number",
    "precision": 5,
    "scale": 2,
    "description": "Score (kam-sync)",
}


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
    org_fields(mocked, {})
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
        {"Name": "KAM_Sync_Integration", "Label": "KAM Sync Integration"},
        {"Name": "KAM_Sync_Users", "Label": "KAM Sync Users"},
    ]
    grant, users_grant = sent(mocked, "POST", f"{API}/sobjects/FieldPermissions")
    assert grant["Field"] == "Account.KAM_Checklist_Gaps__c"
    assert grant["ParentId"] == PS_ID
    assert grant["PermissionsRead"] is True and grant["PermissionsEdit"] is True
    # sales users read kam-sync's results and do not edit them
    assert users_grant["Field"] == "Account.KAM_Checklist_Gaps__c"
    assert users_grant["PermissionsRead"] is True and users_grant["PermissionsEdit"] is False
    # only the integration user's set is assigned; an admin assigns the users' set
    assert sent(mocked, "POST", f"{API}/sobjects/PermissionSetAssignment") == [
        {"PermissionSetId": PS_ID, "AssigneeId": USER}
    ]
    assert any("KAM_Sync_Users" in step for step in report.admin_steps)


def test_provisioning_twice_changes_nothing_the_second_time(
    mocked: responses.RequestsMock, environ: dict[str, str], sleeps: SleepRecorder
) -> None:
    token_ok(mocked)
    describes(mocked)
    org_fields(mocked, {"KAM_Score": SCORE_METADATA})
    permission_set(mocked, exists=True, granted=["Account.KAM_Score__c"])
    sf = connect(SalesforceSettings(), environ, sleep=sleeps)

    report = sf.provision([SCORE])

    assert report.unchanged == ["Account.KAM_Score__c"]
    assert not report.created and not report.updated and not report.problems
    # the org's fields (Tooling query), the field's Metadata, the integration permission set,
    # its field permissions, its assignment, the users' permission set and its field
    # permissions: reads only, and no describe
    assert [c.request.method for c in mocked.calls if "/services/data" in c.request.url] == [
        "GET"
    ] * 7
    assert not any("/describe" in c.request.url for c in mocked.calls)


def test_a_picklist_missing_values_gets_them_added_compared_case_insensitively(
    mocked: responses.RequestsMock, environ: dict[str, str], sleeps: SleepRecorder
) -> None:
    token_ok(mocked)
    describes(mocked)
    permission_set(mocked, exists=True, granted=["Account.KAM_Tier__c"])
    # "key" is Salesforce's duplicate of "Key": value names are unique case-insensitively
    existing = ("Strategic", "key", "Emerging")
    org_fields(mocked, {"KAM_Tier": picklist_metadata("KAM Tier", existing, "Tier (kam-sync)")})
    sf = connect(SalesforceSettings(), environ, sleep=sleeps)

    report = sf.provision([TIER])

    assert report.updated == ["Account.KAM_Tier__c"] and not report.problems
    (patch,) = sent(mocked, "PATCH", f"{API}/tooling/sobjects/CustomField/00N000000000000000")
    values = [v["fullName"] for v in patch["Metadata"]["valueSet"]["valueSetDefinition"]["value"]]
    assert values == ["Strategic", "key", "Emerging", "Watchlist", "None"]


def test_a_field_of_another_type_is_reported_not_changed_nor_granted(
    mocked: responses.RequestsMock, environ: dict[str, str], sleeps: SleepRecorder
) -> None:
    token_ok(mocked)
    describes(mocked)
    flags = {**picklist_metadata("KAM Flags", ("Over Cap",), ""), "type": "MultiselectPicklist"}
    org_fields(mocked, {"KAM_Flags": flags})
    sf = connect(SalesforceSettings(), environ, sleep=sleeps)

    report = sf.provision([FLAGS_AS_TEXT])

    assert report.problems == [
        "Account.KAM_Flags__c: exists as type multipicklist, kam-sync needs text; change or "
        "delete the field, or map another one"
    ]
    assert all(c.request.method == "GET" for c in mocked.calls if "/data/" in c.request.url)


def test_a_field_an_admin_created_without_access_for_the_user_is_found_and_granted(
    mocked: responses.RequestsMock, environ: dict[str, str], sleeps: SleepRecorder
) -> None:
    # KAM_Checklist_Gaps__c is not in the user's describe (no field-level security), but the
    # Tooling API lists it: creating it again would fail DUPLICATE_DEVELOPER_NAME.
    token_ok(mocked)
    describes(mocked)
    gaps = {"label": "Gaps", "type": "LongTextArea", "length": 32768, "description": None}
    org_fields(mocked, {"KAM_Checklist_Gaps": gaps})
    permission_set(mocked, exists=True, granted=[])
    sf = connect(SalesforceSettings(), environ, sleep=sleeps)

    report = sf.provision([GAPS])

    assert not report.created and not report.problems
    assert report.updated == ["Account.KAM_Checklist_Gaps__c"]  # the kam-sync mark was added
    assert sent(mocked, "POST", f"{API}/tooling/sobjects/CustomField") == []
    grant, _users_grant = sent(mocked, "POST", f"{API}/sobjects/FieldPermissions")
    assert grant["Field"] == "Account.KAM_Checklist_Gaps__c" and grant["PermissionsEdit"] is True


def test_a_field_made_by_an_older_kam_sync_gets_the_kam_sync_mark_in_its_description(
    mocked: responses.RequestsMock, environ: dict[str, str], sleeps: SleepRecorder
) -> None:
    token_ok(mocked)
    describes(mocked)
    old = {**SCORE_METADATA, "description": "Key-account candidacy score 0-100."}
    org_fields(mocked, {"KAM_Score": old})
    permission_set(mocked, exists=True, granted=["Account.KAM_Score__c"])
    sf = connect(SalesforceSettings(), environ, sleep=sleeps)

    report = sf.provision([SCORE])

    assert report.updated == ["Account.KAM_Score__c"]
    (patch,) = sent(mocked, "PATCH", f"{API}/tooling/sobjects/CustomField/00N000000000000000")
    assert patch["Metadata"]["description"] == "Key-account candidacy score 0-100. (kam-sync)"
    assert patch["Metadata"]["precision"] == 5  # the rest of the Metadata is sent back whole


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


def test_checklist_values_are_relabelled_added_and_retired_in_one_patch() -> None:
    from kam_sync_connectors.salesforce.provision import picklist_entries, synced_values

    spec = CustomFieldSpec(
        "Account",
        "KAM_Checklist_Answers__c",
        "KAM Checklist Answers",
        "multipicklist",
        values=("needs_01", "value_01"),
        labels=("What are the three priorities?", "x" * 300),
        exact_values=True,
        access="read",
    )
    have = [
        {"fullName": "needs_01", "label": "Old wording?", "default": False, "isActive": True},
        {"fullName": "needs_02", "label": "Removed?", "default": False, "isActive": True},
    ]
    wanted = picklist_entries(spec, 255)
    values = synced_values(have, wanted)
    assert [(v["fullName"], v.get("isActive")) for v in values] == [
        ("needs_01", True),
        ("value_01", None),
        ("needs_02", False),
    ]
    assert values[0]["label"] == "What are the three priorities?"
    assert len(values[1]["label"]) == 255 and values[1]["label"].endswith("\u2026")
    # once in step, nothing changes
    assert synced_values(values, wanted) == values
