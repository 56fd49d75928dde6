"""simple-salesforce, unmodified, against the Salesforce sandbox over HTTPS."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)
from simple_salesforce.login import token_login

from kam_sync.sandbox.runner import SandboxHandle, running_sandbox

ACCOUNTS = 1200
SMALL_PAGES = {"Sforce-Query-Options": "batchSize=200"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox("salesforce", accounts=ACCOUNTS, seed=3) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _no_faults(sandbox: SandboxHandle) -> Iterator[None]:
    yield
    sandbox.set_faults(None)


def password_login(sandbox: SandboxHandle) -> tuple[str, str, requests.Session]:
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
    return session_id, instance, session


@pytest.fixture
def sf(sandbox: SandboxHandle) -> Salesforce:
    session_id, instance, session = password_login(sandbox)
    return Salesforce(instance_url=f"https://{instance}", session_id=session_id, session=session)


def account_ids(sf: Salesforce, n: int, offset: int) -> list[str]:
    query = f"SELECT Id FROM Account ORDER BY Id LIMIT {n} OFFSET {offset}"
    return [r["Id"] for r in sf.query(query)["records"]]


# -- login -------------------------------------------------------------------------------


def test_password_grant_returns_a_session_and_the_https_instance(sandbox: SandboxHandle) -> None:
    session_id, instance, _ = password_login(sandbox)
    assert session_id.startswith("00D")
    assert f"https://{instance}" == sandbox.base_url


def test_client_credentials_and_jwt_bearer_grants_issue_working_sessions(
    sandbox: SandboxHandle,
) -> None:
    creds = sandbox.credentials
    session = sandbox.requests_session()
    token_url = f"{sandbox.base_url}/services/oauth2/token"
    assertion = jwt.encode(
        {
            "iss": creds["consumer_key"],
            "sub": creds["username"],
            "aud": "https://login.salesforce.com",
            "exp": int(time.time()) + 180,
        },
        Path(creds["private_key_path"]).read_bytes(),
        algorithm="RS256",
    )
    grants: list[tuple[dict[str, str], dict[str, str] | None]] = [
        ({"grant_type": "client_credentials"}, {"Authorization": _basic(creds)}),
        (
            {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
            None,
        ),
    ]
    for data, headers in grants:
        session_id, instance = token_login(
            token_url, data, "login", creds["client_id"], headers, None, session
        )
        sf = Salesforce(instance_url=f"https://{instance}", session_id=session_id, session=session)
        assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == ACCOUNTS


def _basic(creds: dict[str, str]) -> str:
    import base64

    raw = f"{creds['client_id']}:{creds['client_secret']}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def test_a_wrong_password_fails_with_salesforces_oauth_error(sandbox: SandboxHandle) -> None:
    creds = sandbox.credentials
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        token_login(
            f"{sandbox.base_url}/services/oauth2/token",
            {
                "grant_type": "password",
                "client_id": creds["client_id"],
                "client_secret": creds["client_secret"],
                "username": creds["username"],
                "password": creds["password"],  # security token missing
            },
            "login",
            creds["client_id"],
            None,
            None,
            sandbox.requests_session(),
        )
    assert caught.value.code == "invalid_grant"
    assert caught.value.auth_message == "authentication failure"


def test_an_unknown_session_gets_401_invalid_session_id(sandbox: SandboxHandle) -> None:
    sf = Salesforce(
        instance_url=sandbox.base_url, session_id="00Dbogus!x", session=sandbox.requests_session()
    )
    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert caught.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


# -- query -------------------------------------------------------------------------------


def test_query_all_iter_follows_next_records_url_page_by_page(
    sf: Salesforce, sandbox: SandboxHandle
) -> None:
    sandbox.reset_stats()
    records = list(
        sf.query_all_iter(
            "SELECT Id, Name, Owner.Name, SystemModstamp FROM Account ORDER BY SystemModstamp, Id",
            headers=SMALL_PAGES,
        )
    )
    assert len(records) == ACCOUNTS
    assert len({r["Id"] for r in records}) == ACCOUNTS
    stamps = [r["SystemModstamp"] for r in records]
    assert stamps == sorted(stamps)
    assert stamps[0].endswith(".000+0000")
    first = records[0]
    assert first["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v{sf.sf_version}/sobjects/Account/{first['Id']}",
    }
    assert first["Owner"]["attributes"]["type"] == "User"
    assert isinstance(first["Owner"]["Name"], str)
    assert sandbox.stats()["requests"]["query"]["GET"] == ACCOUNTS // 200
    assert sandbox.stats()["records_read"] == ACCOUNTS


def test_a_page_holds_2000_records_by_default_and_at_least_200_when_asked_for_fewer(
    sf: Salesforce,
) -> None:
    first = sf.query("SELECT Id FROM Opportunity")
    assert len(first["records"]) == 2000
    assert first["done"] is False
    assert first["totalSize"] > 2000
    assert first["nextRecordsUrl"].startswith(f"/services/data/v{sf.sf_version}/query/01g")
    small = sf.query("SELECT Id FROM Opportunity", headers={"Sforce-Query-Options": "batchSize=50"})
    assert len(small["records"]) == 200


def test_query_all_sees_deleted_records_with_is_deleted(
    sf: Salesforce, sandbox: SandboxHandle
) -> None:
    victim = account_ids(sf, 1, offset=5)[0]
    sandbox.app.store.delete("Account", victim)
    query = f"SELECT Id, IsDeleted FROM Account WHERE Id = '{victim}'"
    assert sf.query(query)["totalSize"] == 0
    found = sf.query_all(query, include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in found] == [(victim, True)]


def test_malformed_queries_and_unknown_fields_raise_with_salesforces_codes(
    sf: Salesforce,
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        sf.query("SELECT Id FROM Account WHERE")
    assert malformed.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as invalid:
        sf.query("SELECT Id, KAM_Nonexistent__c FROM Account")
    assert invalid.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'KAM_Nonexistent__c'" in invalid.value.content[0]["message"]


def test_a_401_mid_pull_stops_the_iteration_with_an_expired_session(
    sf: Salesforce, sandbox: SandboxHandle
) -> None:
    sandbox.set_faults("session_expiry=3")
    seen: list[dict[str, Any]] = []
    with pytest.raises(SalesforceExpiredSession):
        for record in sf.query_all_iter("SELECT Id FROM Account", headers=SMALL_PAGES):
            seen.append(record)
    assert len(seen) == 400  # two pages served before the session ended
    assert sandbox.stats()["faults"]["session_expiry"] == 1


# -- describe and records ----------------------------------------------------------------


def test_describe_reports_types_lengths_precision_and_picklist_values(sf: Salesforce) -> None:
    described = sf.Account.describe()
    assert described["name"] == "Account"
    assert described["keyPrefix"] == "001"
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["Id"]["type"] == "id"
    assert fields["Id"]["updateable"] is False
    assert (fields["Name"]["type"], fields["Name"]["length"], fields["Name"]["nillable"]) == (
        "string",
        255,
        False,
    )
    revenue = fields["AnnualRevenue"]
    assert (revenue["type"], revenue["precision"], revenue["scale"]) == ("currency", 18, 0)
    tier = fields["KAM_Tier_Override__c"]
    assert tier["custom"] is True
    assert tier["restrictedPicklist"] is True
    assert [v["value"] for v in tier["picklistValues"]] == [
        "Strategic",
        "Key",
        "Emerging",
        "Watchlist",
        "None",
    ]
    assert fields["KAM_Team_Roles__c"]["type"] == "multipicklist"
    assert fields["OwnerId"]["relationshipName"] == "Owner"
    assert fields["OwnerId"]["referenceTo"] == ["User"]
    assert "KAM_Tier__c" not in fields  # output fields exist only after provisioning


def test_updating_a_record_bumps_its_modification_stamps(sf: Salesforce) -> None:
    record_id = account_ids(sf, 1, offset=10)[0]
    before = sf.Account.get(record_id)
    status = sf.Account.update(record_id, {"KAM_Strategic_Fit__c": "High"})
    after = sf.Account.get(record_id)
    assert status == 204
    assert after["KAM_Strategic_Fit__c"] == "High"
    assert after["SystemModstamp"] > before["SystemModstamp"]
    assert after["LastModifiedDate"] == after["SystemModstamp"]


def test_a_missing_record_is_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Account.get("001Dn0000009999IAA"[:15])
    assert caught.value.content[0]["errorCode"] == "NOT_FOUND"


# -- sObject Collections -----------------------------------------------------------------


def collection(records: list[dict[str, Any]], *, all_or_none: bool = False) -> dict[str, Any]:
    return {"allOrNone": all_or_none, "records": records}


def test_collection_update_reports_one_result_per_record_in_request_order(
    sf: Salesforce, sandbox: SandboxHandle
) -> None:
    ids = account_ids(sf, 6, offset=20)
    sandbox.app.store.delete("Account", ids[4])
    won = sf.query("SELECT Id FROM Opportunity LIMIT 1")["records"][0]["Id"]
    records = [
        {"attributes": {"type": "Account"}, "id": ids[0], "KAM_Strategic_Fit__c": "Low"},
        {"attributes": {"type": "Account"}, "id": ids[1], "KAM_Tier_Override__c": "Gold"},
        {"attributes": {"type": "Account"}, "id": ids[2], "KAM_Executive_Sponsor__c": "x" * 300},
        {"attributes": {"type": "Account"}, "id": ids[3], "KAM_Contacts_Engaged__c": 10**19},
        {"attributes": {"type": "Account"}, "id": ids[4], "Name": "Gone"},
        {"attributes": {"type": "Account"}, "id": "001nonsense", "Name": "Bad id"},
        {"attributes": {"type": "Opportunity"}, "id": won, "IsWon": True},
    ]
    results = sf.restful("composite/sobjects", method="PATCH", json=collection(records))
    codes = [None if r["success"] else r["errors"][0]["statusCode"] for r in results]
    assert codes == [
        None,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "STRING_TOO_LONG",
        "NUMBER_OUTSIDE_VALID_RANGE",
        "ENTITY_IS_DELETED",
        "MALFORMED_ID",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
    ]
    assert results[0] == {"id": ids[0], "success": True, "errors": []}
    assert results[1]["errors"][0]["fields"] == ["KAM_Tier_Override__c"]
    assert sf.Account.get(ids[0])["KAM_Strategic_Fit__c"] == "Low"


def test_all_or_none_rolls_every_record_back_when_one_fails(sf: Salesforce) -> None:
    ids = account_ids(sf, 2, offset=30)
    records = [
        {"attributes": {"type": "Account"}, "id": ids[0], "KAM_Strategic_Fit__c": "Medium"},
        {"attributes": {"type": "Account"}, "id": ids[1], "KAM_Strategic_Fit__c": "Huge"},
    ]
    before = sf.Account.get(ids[0])["KAM_Strategic_Fit__c"]
    results = sf.restful(
        "composite/sobjects", method="PATCH", json=collection(records, all_or_none=True)
    )
    assert [r["success"] for r in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sf.Account.get(ids[0])["KAM_Strategic_Fit__c"] == before


def test_a_collection_of_more_than_200_records_is_refused_whole(sf: Salesforce) -> None:
    ids = account_ids(sf, 201, offset=0)
    records = [{"attributes": {"type": "Account"}, "id": i, "Name": "x"} for i in ids]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="PATCH", json=collection(records))
    assert caught.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_record_lock_faults_fail_single_records_with_unable_to_lock_row(
    sf: Salesforce, sandbox: SandboxHandle
) -> None:
    ids = account_ids(sf, 200, offset=100)
    sandbox.set_faults("write:lock=0.2")
    sandbox.reset_stats()
    records = [{"attributes": {"type": "Account"}, "id": i, "BillingCity": "Lyon"} for i in ids]
    results = sf.restful("composite/sobjects", method="PATCH", json=collection(records))
    locked = [r for r in results if not r["success"]]
    assert 20 <= len(locked) <= 60
    assert {r["errors"][0]["statusCode"] for r in locked} == {"UNABLE_TO_LOCK_ROW"}
    assert sandbox.stats()["records_written"] == 200 - len(locked)


# -- Bulk API 2.0 ------------------------------------------------------------------------


def test_bulk2_update_reports_successful_and_failed_records(sf: Salesforce) -> None:
    ids = account_ids(sf, 4, offset=300)
    rows = [
        {"Id": ids[0], "KAM_Strategic_Fit__c": "High"},
        {"Id": ids[1], "KAM_Strategic_Fit__c": "Enormous"},
        {"Id": ids[2], "KAM_Strategic_Fit__c": "Low"},
        {"Id": ids[3], "KAM_Strategic_Fit__c": "Medium"},
    ]
    summary = sf.bulk2.Account.update(records=rows, wait=0.05)
    assert summary[0]["numberRecordsProcessed"] == 4
    assert summary[0]["numberRecordsFailed"] == 1
    outcome = sf.bulk2.Account.get_all_ingest_records(summary[0]["job_id"])
    assert [r["sf__Id"] for r in outcome["successfulRecords"]] == [ids[0], ids[2], ids[3]]
    assert outcome["successfulRecords"][0]["sf__Created"] == "false"
    failed = outcome["failedRecords"]
    assert [r["sf__Id"] for r in failed] == [ids[1]]
    assert failed[0]["sf__Error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:")
    assert outcome["unprocessedRecords"] == []
    assert sf.Account.get(ids[2])["KAM_Strategic_Fit__c"] == "Low"


def test_a_bulk_job_moves_from_upload_complete_to_job_complete_over_time(
    sf: Salesforce,
) -> None:
    record_id = account_ids(sf, 1, offset=400)[0]
    client = sf.bulk2.Account._client
    job = client.create_job("update")
    assert job["state"] == "Open"
    client.upload_job_data(job["id"], f"Id,BillingCity\n{record_id},Oslo\n")
    closed = client.close_job(job["id"])
    assert closed["state"] in ("UploadComplete", "InProgress")
    deadline = time.monotonic() + 5
    states = [closed["state"]]
    while states[-1] != "JobComplete" and time.monotonic() < deadline:
        time.sleep(0.02)
        states.append(client.get_job(job["id"], False)["state"])
    assert states[-1] == "JobComplete"
    assert "InProgress" in states
    info = client.get_job(job["id"], False)
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (1, 0)
    assert info["jobType"] == "V2Ingest"


# -- limits ------------------------------------------------------------------------------


def test_limits_and_the_sforce_limit_info_header_agree_on_api_usage(sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Account LIMIT 1")
    used_after_query = sf.api_usage["api-usage"].used
    limits = sf.limits()
    daily = limits["DailyApiRequests"]
    assert daily["Max"] == sf.api_usage["api-usage"].total
    assert daily["Remaining"] == daily["Max"] - (used_after_query + 1)


def test_an_exhausted_daily_allocation_refuses_requests_with_request_limit_exceeded(
    sf: Salesforce, sandbox: SandboxHandle
) -> None:
    from simple_salesforce.exceptions import SalesforceRefusedRequest

    sandbox.set_faults("quota=1")
    try:
        sf.query("SELECT Id FROM Account LIMIT 1")
        with pytest.raises(SalesforceRefusedRequest) as caught:
            sf.query("SELECT Id FROM Account LIMIT 1")
        assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    finally:
        sandbox.app.set_remaining_quota(sandbox.app.daily_api_limit)


def test_seeded_datetimes_are_utc_and_before_the_sandbox_started(sf: Salesforce) -> None:
    record = sf.query("SELECT CreatedDate FROM Account ORDER BY CreatedDate DESC LIMIT 1")
    created = dt.datetime.strptime(record["records"][0]["CreatedDate"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert created.utcoffset() == dt.timedelta(0)
    assert created < dt.datetime.now(dt.UTC)


# -- Bulk API 2.0 query ------------------------------------------------------------------


def test_bulk2_query_pages_csv_by_locator_until_null(sf: Salesforce) -> None:
    import csv
    import io

    pages = list(
        sf.bulk2.Account.query(
            "SELECT Id, Name, Owner.Name, AnnualRevenue, SystemModstamp FROM Account",
            max_records=500,
            wait=0.05,
        )
    )
    assert len(pages) == -(-sf.query("SELECT COUNT() FROM Account")["totalSize"] // 500)
    first = pages[0]
    assert isinstance(first, str)
    assert first.splitlines()[0] == '"Id","Name","Owner.Name","AnnualRevenue","SystemModstamp"'
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(str(page)))]
    assert len({r["Id"] for r in rows}) == len(rows)
    assert rows[0]["SystemModstamp"].endswith(".000Z")
    assert all("." not in r["AnnualRevenue"] for r in rows)


def test_a_bulk2_query_all_job_includes_deleted_records(
    sf: Salesforce, sandbox: SandboxHandle
) -> None:
    victim = account_ids(sf, 1, offset=7)[0]
    sandbox.app.store.delete("Account", victim)
    soql = f"SELECT Id, IsDeleted FROM Account WHERE Id = '{victim}'"
    live = "".join(str(p) for p in sf.bulk2.Account.query(soql, wait=0.05))
    every = "".join(str(p) for p in sf.bulk2.Account.query_all(soql, wait=0.05))
    assert victim not in live
    assert f'"{victim}","true"' in every


def test_userinfo_names_the_integration_user(sf: Salesforce) -> None:
    info = sf.oauth2("userinfo")
    assert info["user_id"].startswith("005")
    assert info["organization_id"].startswith("00D")
    user = sf.User.get(info["user_id"])
    assert user["Username"] == info["preferred_username"]


def test_describe_lists_child_relationships_and_subqueries_return_them(
    sf: Salesforce, sandbox: SandboxHandle
) -> None:
    children = {
        c["relationshipName"]: (c["childSObject"], c["field"])
        for c in sf.Account.describe()["childRelationships"]
    }
    assert children["AccountTeamMembers"] == ("AccountTeamMember", "AccountId")
    assert children["Opportunities"] == ("Opportunity", "AccountId")
    member = sf.query("SELECT AccountId FROM AccountTeamMember LIMIT 1")["records"][0]
    expected = sf.query(
        f"SELECT COUNT() FROM AccountTeamMember WHERE AccountId = '{member['AccountId']}'"
    )["totalSize"]
    account = sf.query(
        "SELECT Id, (SELECT TeamMemberRole, User.Name FROM AccountTeamMembers) FROM Account "
        f"WHERE Id = '{member['AccountId']}'"
    )["records"][0]
    team = account["AccountTeamMembers"]
    assert team["totalSize"] == expected == len(team["records"])
    assert team["done"] is True
    assert all(isinstance(m["User"]["Name"], str) for m in team["records"])


def test_the_seeded_org_has_orphan_opportunities_but_no_dangling_lookups(sf: Salesforce) -> None:
    orphans = sf.query("SELECT COUNT() FROM Opportunity WHERE AccountId = null")["totalSize"]
    assert orphans > 0
    records = sf.query_all("SELECT AccountId, Account.Name FROM Opportunity")["records"]
    dangling = [r for r in records if r["AccountId"] and r["Account"] is None]
    assert dangling == []
    unnamed = sf.query("SELECT COUNT() FROM Account WHERE Name = null OR Name = ''")
    assert unnamed["totalSize"] == 0  # Name is required in Salesforce
    won_without_amount = sf.query(
        "SELECT COUNT() FROM Opportunity WHERE IsWon = true AND Amount = null"
    )
    assert won_without_amount["totalSize"] > 0  # dirty data the pipeline must survive
