"""The API budget: Sforce-Limit-Info and /limits feed a guard that stops a run cleanly."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import responses
from sf_fakes import API, token_ok

from kam_sync.errors import QuotaExhaustedError
from kam_sync_connectors.quota import DAILY_BUDGET, RUN_BUDGET
from kam_sync_connectors.salesforce.client import SalesforceClient
from kam_sync_connectors.salesforce.connector import connect
from kam_sync_connectors.salesforce.quota import (
    LIMIT_INFO_SOURCE,
    LIMITS_REFUSED,
    LIMITS_SOURCE,
    observe_limits,
    parse_limit_info,
)
from kam_sync_connectors.salesforce.settings import SalesforceSettings

URL = f"{API}/limits/"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("api-usage=18/5000", (18, 5000)),
        ("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)", (25, 5000)),
        ("per-app-api-usage=17/250(appName=x)", None),
        ("garbage", None),
    ],
)
def test_limit_info_header_is_read_as_org_usage(
    header: str, expected: tuple[int, int] | None
) -> None:
    assert parse_limit_info(header) == expected


def test_the_run_stops_before_a_call_once_org_usage_reaches_the_stop_line(
    mocked: responses.RequestsMock, make_client: Callable[..., SalesforceClient]
) -> None:
    token_ok(mocked)
    mocked.get(URL, json={}, headers={"Sforce-Limit-Info": "api-usage=800/1000"})
    client = make_client(quota_stop_at_percent=80)
    client.json_call("limits", "GET", "limits/")

    with pytest.raises(QuotaExhaustedError, match="800 of 1000") as caught:
        client.json_call("limits", "GET", "limits/")

    assert caught.value.exit_code == 4
    assert caught.value.error_code == DAILY_BUDGET
    assert client.ledger.by_kind["limits"] == 1


def test_the_run_stops_when_its_own_calls_reach_the_per_run_budget(
    mocked: responses.RequestsMock, make_client: Callable[..., SalesforceClient]
) -> None:
    token_ok(mocked)
    mocked.get(URL, json={}, headers={"Sforce-Limit-Info": "api-usage=100/1000"})
    client = make_client(quota_max_percent_per_run=2)  # 20 calls of 1000

    for _ in range(20):
        client.json_call("limits", "GET", "limits/")
    with pytest.raises(QuotaExhaustedError, match="20 API calls") as caught:
        client.json_call("limits", "GET", "limits/")

    assert caught.value.error_code == RUN_BUDGET
    assert client.ledger.api_calls() == 20
    assert client.ledger.by_kind["auth"] == 1  # logins do not count against the allocation


def test_limits_body_sets_usage_before_the_first_header(
    make_client: Callable[..., SalesforceClient],
) -> None:
    client = make_client()
    observe_limits(client.quota, {"DailyApiRequests": {"Max": 15000, "Remaining": 1000}})

    assert (client.quota.used, client.quota.limit) == (14000, 15000)
    with pytest.raises(QuotaExhaustedError):
        client.quota.check()


def test_a_refused_limits_resource_lets_the_run_go_on_with_the_usage_from_the_header(
    mocked: responses.RequestsMock,
    environ: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A user without "View Setup and Configuration" gets 403 on /limits; the 403 carries
    # Sforce-Limit-Info like every REST response.
    token_ok(mocked)
    mocked.get(
        URL,
        status=403,
        json=[{"errorCode": "INSUFFICIENT_ACCESS", "message": "no access"}],
        headers={"Sforce-Limit-Info": "api-usage=120/5000"},
    )
    sf = connect(SalesforceSettings(), environ, sleep=lambda _s: None)

    with caplog.at_level(logging.WARNING):
        first = sf.check_quota()
        second = sf.check_quota()

    assert (first.used, first.limit, first.source) == (120, 5000, LIMIT_INFO_SOURCE)
    assert second.source == LIMIT_INFO_SOURCE
    # said once, and /limits is not asked again in the same connector
    assert [r.message for r in caplog.records].count(LIMITS_REFUSED) == 1
    assert sf.quota().calls_by_kind["limits"] == 1


def test_a_readable_limits_resource_is_named_as_the_quota_source(
    mocked: responses.RequestsMock, environ: dict[str, str]
) -> None:
    token_ok(mocked)
    mocked.get(URL, json={"DailyApiRequests": {"Max": 5000, "Remaining": 4000}})
    sf = connect(SalesforceSettings(), environ, sleep=lambda _s: None)

    status = sf.check_quota()

    assert (status.used, status.limit, status.source) == (1000, 5000, LIMITS_SOURCE)


def test_the_daily_quota_on_limits_still_stops_the_run(
    mocked: responses.RequestsMock, environ: dict[str, str]
) -> None:
    token_ok(mocked)
    mocked.get(
        URL,
        status=403,
        json=[{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
    )
    sf = connect(SalesforceSettings(), environ, sleep=lambda _s: None)

    with pytest.raises(QuotaExhaustedError):
        sf.check_quota()


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "INVALID_TYPE"),  # what Salesforce answers for a Setup object the user cannot see
        (403, "INSUFFICIENT_ACCESS"),
    ],
)
def test_a_user_without_setup_access_reads_describe_and_is_told_once_what_provenance_needs(
    mocked: responses.RequestsMock,
    environ: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    status: int,
    code: str,
) -> None:
    import re

    from sf_fakes import describes

    from kam_sync_connectors.salesforce.describe import TOOLING_REFUSED

    token_ok(mocked)
    describes(mocked)
    mocked.get(
        re.compile(rf"{re.escape(API)}/tooling/query/.*"),
        status=status,
        json=[{"errorCode": code, "message": "sObject type 'CustomField' is not supported."}],
    )
    sf = connect(SalesforceSettings(), environ, sleep=lambda _s: None)

    with caplog.at_level(logging.WARNING):
        account = sf.describe("Account")
        again = sf.describe("Account")

    assert account.fields["KAM_Tier__c"].custom
    assert not any(f.provisioned for f in account.fields.values())
    assert again == account
    assert [r.message for r in caplog.records].count(TOOLING_REFUSED) == 1


@pytest.mark.parametrize("code", ["API_DISABLED_FOR_ORG", "INSUFFICIENT_ACCESS", None])
def test_limits_refused_with_any_403_body_lets_the_run_go_on(
    mocked: responses.RequestsMock, environ: dict[str, str], code: str | None
) -> None:
    # The documentation names the permission, not the body; one public report shows
    # API_DISABLED_FOR_ORG from /limits (forceworkbench/forceworkbench#681).
    token_ok(mocked)
    body = [{"errorCode": code, "message": "refused"}] if code else []
    mocked.get(URL, status=403, json=body, headers={"Sforce-Limit-Info": "api-usage=7/5000"})
    sf = connect(SalesforceSettings(), environ, sleep=lambda _s: None)

    status = sf.check_quota()

    assert (status.used, status.limit, status.source) == (7, 5000, LIMIT_INFO_SOURCE)
