"""The connector against the sandbox as strict as a real org: field-level security, fields an
admin created first, /limits without the permission, client credentials off My Domain."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sf_sandbox import OUTPUT_FIELDS, TARGETS, account_ids, accounts_request, connector_for

from kam_sync.errors import AuthError, FatalApiError
from kam_sync_connectors.base import CustomFieldSpec, RecordUpdate
from kam_sync_connectors.salesforce import auth
from kam_sync_connectors.salesforce.connector import SalesforceConnector
from kam_sync_connectors.salesforce.provision import field_metadata
from kam_sync_connectors.salesforce.quota import LIMIT_INFO_SOURCE, LIMITS_SOURCE

SCORE = next(f for f in OUTPUT_FIELDS if f.name == "KAM_Score__c")
TIER = next(f for f in OUTPUT_FIELDS if f.name == "KAM_Tier__c")


def admin_creates(sf: SalesforceConnector, spec: CustomFieldSpec, description: str) -> str:
    """A field created in Setup (or by an older tool) with no field-level security for the
    integration user: what the Tooling API does when nothing grants it."""
    metadata = {**field_metadata(spec), "description": description}
    body = sf.client.json_call(
        "admin creates a field",
        "POST",
        "tooling/sobjects/CustomField",
        {"FullName": f"{spec.object_name}.{spec.name}", "Metadata": metadata},
    )
    return str(body["id"])


def test_a_field_without_field_level_security_is_hidden_from_describe_query_and_update(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=5, seed=31)
    sf = connector_for(sandbox)
    admin_creates(sf, SCORE, "made in Setup")
    sf = connector_for(sandbox)

    assert "KAM_Score__c" not in sf.describe("Account").fields
    with pytest.raises(FatalApiError, match="INVALID_FIELD"):
        list(sf.client.call("query", lambda api: api.query("SELECT KAM_Score__c FROM Account")))
    account = account_ids(sandbox)[0]
    with pytest.raises(FatalApiError, match="INVALID_FIELD: No such column 'KAM_Score__c'"):
        sf.client.json_call("update", "PATCH", f"sobjects/Account/{account}", {"KAM_Score__c": 5})


def test_recreating_an_existing_field_fails_duplicate_developer_name(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=5, seed=32)
    sf = connector_for(sandbox)
    admin_creates(sf, SCORE, "made in Setup")

    with pytest.raises(FatalApiError, match="DUPLICATE_DEVELOPER_NAME"):
        admin_creates(sf, SCORE, "again")


def test_provision_finds_fields_an_admin_created_grants_them_and_the_writes_go_through(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=5, seed=33)
    admin_creates(connector_for(sandbox), SCORE, "Score, made in Setup")
    admin_creates(connector_for(sandbox), TIER, "Tier (kam-sync)")

    report = connector_for(sandbox).provision(OUTPUT_FIELDS)

    assert not report.problems, report.problems
    assert "Account.KAM_Score__c" not in report.created
    assert "Account.KAM_Score__c" in report.updated  # the kam-sync mark was added
    assert "Account.KAM_Tier__c" in report.unchanged
    sf = connector_for(sandbox)
    fields = sf.describe("Account").fields
    assert all(fields[name].updateable for name in TARGETS)
    assert fields["KAM_Score__c"].provisioned and fields["KAM_Tier__c"].provisioned
    ids = account_ids(sandbox)
    results = sf.push(
        "Account",
        [RecordUpdate(i, {"KAM_Score__c": Decimal("61.50"), "KAM_Tier__c": "Key"}) for i in ids],
    )
    assert [r.ok for r in results] == [True] * len(ids), [r.message for r in results]
    pulled = [
        r
        for page in sf.pull(
            accounts_request(None, datetime.now(UTC), "KAM_Score__c", "KAM_Tier__c")
        )
        for r in page.records
    ]
    assert {r["KAM_Tier__c"] for r in pulled} == {"Key"}


def test_a_read_only_grant_shows_the_field_but_refuses_the_update(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=5, seed=34)
    connector_for(sandbox).provision([SCORE])
    store = sandbox.app.store
    for row in list(store.records("FieldPermissions")):
        if row["Field"] == "Account.KAM_Score__c":
            store.human_edit("FieldPermissions", row["Id"], PermissionsEdit=False)
    sf = connector_for(sandbox)

    assert not sf.describe("Account").fields["KAM_Score__c"].updateable
    account = account_ids(sandbox)[0]
    with pytest.raises(FatalApiError, match="INVALID_FIELD_FOR_INSERT_UPDATE"):
        sf.client.json_call("update", "PATCH", f"sobjects/Account/{account}", {"KAM_Score__c": 1})


def test_the_lax_switch_shows_every_field_without_a_grant(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=5, seed=35)
    admin_creates(connector_for(sandbox), SCORE, "made in Setup")
    sandbox.app.store.field_level_security = False

    assert connector_for(sandbox).describe("Account").fields["KAM_Score__c"].updateable


def test_picklist_values_differing_only_in_case_are_duplicates(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=5, seed=36)
    stages = CustomFieldSpec(
        "Account", "KAM_Stage__c", "KAM Stage", "picklist", values=("Strategy", "Action plan")
    )
    sf = connector_for(sandbox)
    with pytest.raises(FatalApiError, match="DUPLICATE_VALUE"):
        admin_creates(
            sf,
            CustomFieldSpec(
                "Account", "KAM_X__c", "X", "picklist", values=("Action plan", "Action Plan")
            ),
            "",
        )
    admin_creates(sf, stages, "")
    wanted = CustomFieldSpec(
        "Account", "KAM_Stage__c", "KAM Stage", "picklist", values=("Strategy", "Action Plan")
    )

    report = connector_for(sandbox).provision([wanted])

    # only the mark was added; "Action Plan" was not sent again (Salesforce would refuse it)
    assert not report.problems, report.problems
    assert report.updated == ["Account.KAM_Stage__c"]
    assert sandbox.app.store.schema.get("Account").get("KAM_Stage__c").picklist == (
        "Strategy",
        "Action plan",
    )


def test_a_run_without_the_limits_permission_reads_the_quota_from_the_header(
    sandbox_factory: Callable[..., Any],
) -> None:
    sandbox = sandbox_factory(accounts=5, seed=37)
    sandbox.app.limits_permission = False
    sf = connector_for(sandbox)

    status = sf.check_quota()

    used, limit = sandbox.app.api_usage
    assert status.limit == limit and status.used is not None and 0 < status.used <= used
    assert status.source == LIMIT_INFO_SOURCE
    sandbox.app.limits_permission = True
    assert connector_for(sandbox).check_quota().source == LIMITS_SOURCE


def test_client_credentials_on_a_generic_login_host_are_refused_by_the_sandbox(
    sandbox_factory: Callable[..., Any],
) -> None:
    # The sandbox stands for login.salesforce.com when reached as localhost (auth.py).
    sandbox = sandbox_factory(accounts=5, seed=38)
    generic = sandbox.base_url.replace("127.0.0.1", "localhost")
    sf = connector_for(sandbox, login_url=generic, auth="client_credentials")

    with pytest.raises(AuthError, match="set login_url to your My Domain URL"):
        sf.check_quota()
    session = sandbox.requests_session()
    form = {
        "grant_type": "client_credentials",
        "client_id": sandbox.credentials["client_id"],
        "client_secret": sandbox.credentials["client_secret"],
    }
    token_url = sandbox.base_url + "/services/oauth2/token"
    refused = session.post(token_url, data=form, headers={"Host": "login.salesforce.com"})
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "invalid_grant",
        "error_description": "request not supported on this domain",
    }
    assert session.post(token_url, data=form).status_code == 200  # the org's My Domain
    assert connector_for(sandbox, auth="client_credentials").check_quota().limit


def test_the_password_flow_works_and_logs_its_retirement_once(
    sandbox_factory: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auth, "_password_flow_warned", False)
    sandbox = sandbox_factory(accounts=5, seed=39)

    with caplog.at_level(logging.WARNING):
        first = connector_for(sandbox, auth="password").check_quota()
        connector_for(sandbox, auth="password").check_quota()

    assert first.limit
    assert [r.message for r in caplog.records].count(auth.RETIRED_FLOW_WARNING) == 1
