"""The API budget: Sforce-Limit-Info and /limits feed a guard that stops a run cleanly."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import responses
from sf_fakes import API, token_ok

from kam_sync.errors import QuotaExhaustedError
from kam_sync_connectors.quota import DAILY_BUDGET, RUN_BUDGET
from kam_sync_connectors.salesforce.client import SalesforceClient
from kam_sync_connectors.salesforce.quota import observe_limits, parse_limit_info

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
