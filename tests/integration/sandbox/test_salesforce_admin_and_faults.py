"""Salesforce sandbox: provisioning through the Tooling API, faults, accounting, `--data`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest
from simple_salesforce.login import token_login

from kam_sync.sandbox.runner import SandboxHandle, running_sandbox

TIER_FIELD = {
    "FullName": "Account.KAM_Tier__c",
    "Metadata": {
        "label": "KAM Tier",
        "type": "Picklist",
        "valueSet": {
            "restricted": True,
            "valueSetDefinition": {
                "sorted": False,
                "value": [
                    {"fullName": v, "label": v, "default": False}
                    for v in ("Strategic", "Key", "Emerging", "Watchlist", "None")
                ],
            },
        },
    },
}


def login(sandbox: SandboxHandle) -> Salesforce:
    creds = sandbox.credentials
    session = sandbox.requests_session()
    session_id, instance = token_login(
        f"{sandbox.base_url}/services/oauth2/token",
        {
            "grant_type": "password",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "username": creds["username"],
            "password": creds["password"] + creds["security_token"],
        },
        "login",
        creds["client_id"],
        None,
        None,
        session,
    )
    return Salesforce(instance_url=f"https://{instance}", session_id=session_id, session=session)


def grant(sandbox: SandboxHandle, sf: Salesforce, *fields: str) -> None:
    """Read and edit access for the API user, as `provision` gives it: a field created through
    the Tooling API is granted to no one (field-level security, strict in the sandbox)."""
    permission_set = sf.PermissionSet.create({"Name": "KAM_Test", "Label": "KAM Test"})
    for full_name in fields:
        sf.FieldPermissions.create(
            {
                "ParentId": permission_set["id"],
                "SobjectType": full_name.split(".")[0],
                "Field": full_name,
                "PermissionsRead": True,
                "PermissionsEdit": True,
            }
        )
    sf.PermissionSetAssignment.create(
        {"PermissionSetId": permission_set["id"], "AssigneeId": sandbox.app.store.api_user_id}
    )


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox("salesforce", accounts=80, seed=5) as handle:
        yield handle


def test_a_custom_field_created_with_the_tooling_api_appears_in_describe_and_takes_writes(
    sandbox: SandboxHandle,
) -> None:
    sf = login(sandbox)
    created = sf.toolingexecute("sobjects/CustomField", method="POST", data=TIER_FIELD)
    assert created["success"] is True
    assert created["id"].startswith("00N")
    assert "KAM_Tier__c" not in {f["name"] for f in sf.Account.describe()["fields"]}
    grant(sandbox, sf, "Account.KAM_Tier__c")
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    tier = fields["KAM_Tier__c"]
    assert (tier["type"], tier["custom"], tier["restrictedPicklist"]) == ("picklist", True, True)
    assert [v["value"] for v in tier["picklistValues"]][:2] == ["Strategic", "Key"]
    record_id = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    sf.Account.update(record_id, {"KAM_Tier__c": "Key"})
    assert sf.Account.get(record_id)["KAM_Tier__c"] == "Key"
    existing = sf.toolingexecute(
        "query/",
        params={
            "q": "SELECT Id, DeveloperName FROM CustomField WHERE TableEnumOrId = 'Account' "
            "AND DeveloperName = 'KAM_Tier'"
        },
    )
    assert [r["Id"] for r in existing["records"]] == [created["id"]]


def test_creating_the_same_custom_field_twice_is_a_duplicate(sandbox: SandboxHandle) -> None:
    sf = login(sandbox)
    sf.toolingexecute("sobjects/CustomField", method="POST", data=TIER_FIELD)
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.toolingexecute("sobjects/CustomField", method="POST", data=TIER_FIELD)
    assert caught.value.content[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"


def test_a_number_field_needs_a_precision_within_salesforces_range(
    sandbox: SandboxHandle,
) -> None:
    sf = login(sandbox)
    body = {
        "FullName": "Account.KAM_Score__c",
        "Metadata": {"label": "KAM Score", "type": "Number", "precision": 40, "scale": 2},
    }
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.toolingexecute("sobjects/CustomField", method="POST", data=body)
    assert caught.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    body["Metadata"]["precision"] = 5
    sf.toolingexecute("sobjects/CustomField", method="POST", data=body)
    grant(sandbox, sf, "Account.KAM_Score__c")
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert (fields["KAM_Score__c"]["precision"], fields["KAM_Score__c"]["scale"]) == (5, 2)
    record_id = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Account"}, "id": record_id, "KAM_Score__c": 1000}],
        },
    )
    assert results[0]["errors"][0]["statusCode"] == "NUMBER_OUTSIDE_VALID_RANGE"


def test_permission_sets_and_field_permissions_can_be_created_once(
    sandbox: SandboxHandle,
) -> None:
    sf = login(sandbox)
    sf.toolingexecute("sobjects/CustomField", method="POST", data=TIER_FIELD)
    permission_set = sf.PermissionSet.create({"Name": "KAM_Sync", "Label": "KAM Sync"})
    assert permission_set["success"] is True
    grant = {
        "ParentId": permission_set["id"],
        "SobjectType": "Account",
        "Field": "Account.KAM_Tier__c",
        "PermissionsRead": True,
        "PermissionsEdit": True,
    }
    assert sf.FieldPermissions.create(grant)["success"] is True
    with pytest.raises(SalesforceMalformedRequest) as duplicate:
        sf.FieldPermissions.create(grant)
    assert duplicate.value.content[0]["errorCode"] == "DUPLICATE_VALUE"
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sf.FieldPermissions.create({**grant, "Field": "Account.Nope__c"})
    assert unknown.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    rows = sf.query(
        f"SELECT Field, PermissionsEdit FROM FieldPermissions WHERE ParentId = "
        f"'{permission_set['id']}'"
    )["records"]
    assert [(r["Field"], r["PermissionsEdit"]) for r in rows] == [("Account.KAM_Tier__c", True)]


def test_injected_429s_carry_retry_after_and_a_salesforce_error_body(
    sandbox: SandboxHandle,
) -> None:
    sf = login(sandbox)
    sandbox.set_faults("query:429=1,retry_after=2")
    response = sf.session.get(
        f"{sandbox.base_url}/services/data/v59.0/query",
        params={"q": "SELECT Id FROM Account"},
        headers=sf.headers,
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert sf.limits()["DailyApiRequests"]["Remaining"] > 0  # other kinds are untouched
    sandbox.set_faults("503=1")
    unavailable = sf.session.get(f"{sandbox.base_url}/services/data/v59.0/limits",
                                 headers=sf.headers)  # fmt: skip
    assert unavailable.status_code == 503
    assert "Retry-After" not in unavailable.headers
    assert sandbox.stats()["faults"] == {"429": 1, "503": 1}


def test_a_dropped_connection_gives_the_client_no_response(sandbox: SandboxHandle) -> None:
    sf = login(sandbox)
    sandbox.set_faults("describe:drop=1")
    with pytest.raises(requests.ConnectionError):
        sf.Account.describe()
    sandbox.set_faults(None)
    assert sf.Account.describe()["name"] == "Account"


def test_latency_is_added_to_every_request_of_the_kind(sandbox: SandboxHandle) -> None:
    import time

    sf = login(sandbox)
    sandbox.set_faults("limits:latency=150ms")
    started = time.perf_counter()
    sf.limits()
    assert time.perf_counter() - started >= 0.15


def test_stats_count_requests_by_kind_and_method_and_reset_zeroes_them(
    sandbox: SandboxHandle,
) -> None:
    sf = login(sandbox)
    client = sandbox.requests_session()
    client.post(f"{sandbox.base_url}/__sandbox/reset").raise_for_status()
    sf.query("SELECT Id FROM Account LIMIT 5")
    sf.Account.describe()
    record_id = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    sf.Account.update(record_id, {"BillingCity": "Graz"})
    stats = client.get(f"{sandbox.base_url}/__sandbox/stats").json()
    assert stats["requests"] == {
        "describe": {"GET": 1},
        "query": {"GET": 2},
        "write": {"PATCH": 1},
    }
    assert (stats["records_read"], stats["records_written"]) == (6, 1)
    client.post(f"{sandbox.base_url}/__sandbox/reset").raise_for_status()
    zeroed = client.get(f"{sandbox.base_url}/__sandbox/stats").json()
    assert zeroed["requests_total"] == 0
    assert zeroed["records_read"] == 0


def test_the_data_file_keeps_provisioned_fields_and_edits_across_restarts(tmp_path: Path) -> None:
    data_file = tmp_path / "org.json"
    with running_sandbox("salesforce", accounts=30, seed=9, data_file=data_file) as first:
        sf = login(first)
        sf.toolingexecute("sobjects/CustomField", method="POST", data=TIER_FIELD)
        grant(first, sf, "Account.KAM_Tier__c")
        ids = [r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 2")["records"]]
        sf.Account.update(ids[0], {"KAM_Tier__c": "Emerging", "Name": "Kept Name"})
        sf.Account.delete(ids[1])
        stamp = sf.Account.get(ids[0])["SystemModstamp"]
    assert data_file.exists()
    # The file's own seed wins over the arguments: its changes belong to that org.
    with running_sandbox("salesforce", accounts=500, seed=2, data_file=data_file) as second:
        sf = login(second)
        again = sf.Account.get(ids[0])
        assert (again["KAM_Tier__c"], again["Name"]) == ("Emerging", "Kept Name")
        assert again["SystemModstamp"] == stamp
        assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 29
        deleted = sf.query_all(f"SELECT IsDeleted FROM Account WHERE Id = '{ids[1]}'", True)
        assert deleted["records"][0]["IsDeleted"] is True


def test_a_picklist_field_gets_new_values_through_a_tooling_metadata_update(
    sandbox: SandboxHandle,
) -> None:
    sf = login(sandbox)
    created = sf.toolingexecute("sobjects/CustomField", method="POST", data=TIER_FIELD)
    path = f"sobjects/CustomField/{created['id']}"
    current = sf.toolingexecute(path)
    assert current["FullName"] == "Account.KAM_Tier__c"
    metadata = current["Metadata"]
    values = metadata["valueSet"]["valueSetDefinition"]["value"]
    values.append({"fullName": "Platinum", "label": "Platinum", "default": False})
    sf.toolingexecute(path, method="PATCH", data={"Metadata": metadata})
    grant(sandbox, sf, "Account.KAM_Tier__c")
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert [v["value"] for v in fields["KAM_Tier__c"]["picklistValues"]][-1] == "Platinum"


def test_existing_custom_fields_are_listed_by_the_tooling_api(sandbox: SandboxHandle) -> None:
    sf = login(sandbox)
    found = sf.toolingexecute(
        "query/",
        params={
            "q": "SELECT Id, DeveloperName FROM CustomField WHERE TableEnumOrId = 'Account' "
            "AND DeveloperName = 'KAM_Team_Roles'"
        },
    )
    assert found["totalSize"] == 1
    field = sf.toolingexecute(f"sobjects/CustomField/{found['records'][0]['Id']}")
    assert field["Metadata"]["type"] == "MultiselectPicklist"


def test_partial_batch_faults_fail_some_bulk_records_with_unknown_exception(
    sandbox: SandboxHandle,
) -> None:
    sf = login(sandbox)
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account LIMIT 60")["records"]]
    sandbox.set_faults("bulk:partial=0.3")
    summary = sf.bulk2.Account.update(
        records=[{"Id": i, "BillingCity": "Porto"} for i in ids], wait=0.05
    )
    outcome = sf.bulk2.Account.get_all_ingest_records(summary[0]["job_id"])
    failed = outcome["failedRecords"]
    assert 5 <= len(failed) <= 35
    assert {r["sf__Error"].split(":")[0] for r in failed} == {"UNKNOWN_EXCEPTION"}
    assert len(outcome["successfulRecords"]) + len(failed) == 60


def test_the_faults_endpoint_changes_faults_and_the_quota_of_a_running_sandbox(
    sandbox: SandboxHandle,
) -> None:
    sf = login(sandbox)
    client = sandbox.requests_session()
    client.post(f"{sandbox.base_url}/__sandbox/faults", json={"spec": "quota=7"}).raise_for_status()
    assert sf.limits()["DailyApiRequests"]["Remaining"] == 6
    client.post(f"{sandbox.base_url}/__sandbox/faults", json={"spec": "limits:503=1"})
    assert sf.session.get(f"{sandbox.base_url}/services/data/v59.0/limits",
                          headers=sf.headers).status_code == 503  # fmt: skip


def test_a_body_that_is_not_json_gets_json_parser_error(sandbox: SandboxHandle) -> None:
    sf = login(sandbox)
    response = sf.session.patch(
        f"{sandbox.base_url}/services/data/v59.0/composite/sobjects",
        data=b"{not json",
        headers=sf.headers,
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_concurrent_pulls_and_writes_all_succeed(sandbox: SandboxHandle) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ids = [r["Id"] for r in login(sandbox).query("SELECT Id FROM Account")["records"]]

    def pull(_: int) -> int:
        sf = login(sandbox)
        query = "SELECT Id, Owner.Name FROM Account ORDER BY SystemModstamp, Id"
        return sum(1 for _ in range(5) for _ in sf.query_all_iter(query))

    def write(worker: int) -> int:
        sf = login(sandbox)
        done = 0
        for round_ in range(5):
            records = [
                {"attributes": {"type": "Account"}, "id": i, "BillingCity": f"City {round_}"}
                for i in ids[worker * 10 : worker * 10 + 10]
            ]
            results = sf.restful("composite/sobjects", method="PATCH", json={"records": records})
            done += sum(r["success"] for r in results)
        return done

    with ThreadPoolExecutor(max_workers=6) as pool:
        pulls = [pool.submit(pull, n) for n in range(3)]
        writes = [pool.submit(write, n) for n in range(3)]
        pulled = [f.result() for f in pulls]
        written = [f.result() for f in writes]
    assert pulled == [5 * len(ids)] * 3
    assert written == [50] * 3


def test_an_api_version_salesforce_does_not_serve_is_not_found(sandbox: SandboxHandle) -> None:
    sf = login(sandbox)
    unknown = sf.session.get(f"{sandbox.base_url}/services/data/v99.0/limits", headers=sf.headers)
    assert unknown.status_code == 404
    assert unknown.json()[0]["errorCode"] == "NOT_FOUND"
    known = sf.session.get(f"{sandbox.base_url}/services/data/v62.0/limits", headers=sf.headers)
    assert known.status_code == 200
