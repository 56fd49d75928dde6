"""The single retry policy: what is retried, how long it waits, and where it gives up."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import requests
import responses
from sf_fakes import API, TOKEN_URL, SleepRecorder, token_ok

from kam_sync.errors import FatalApiError, QuotaExhaustedError, RetriableApiError
from kam_sync_connectors.salesforce.client import SalesforceClient

LIMITS = {"DailyApiRequests": {"Max": 100000, "Remaining": 99000}}
URL = f"{API}/limits/"


def test_503_with_retry_after_is_retried_after_exactly_that_wait(
    mocked: responses.RequestsMock,
    make_client: Callable[..., SalesforceClient],
    sleeps: SleepRecorder,
) -> None:
    token_ok(mocked)
    mocked.get(URL, status=503, headers={"Retry-After": "7"}, body="busy")
    mocked.get(URL, status=429, headers={"Retry-After": "3"}, json=[{"errorCode": "X"}])
    mocked.get(URL, json=LIMITS)
    client = make_client()

    assert client.json_call("limits", "GET", "limits/") == LIMITS

    assert sleeps.waits == [7.0, 3.0]


def test_5xx_without_retry_after_backs_off_exponentially_with_jitter_up_to_the_attempt_limit(
    mocked: responses.RequestsMock,
    make_client: Callable[..., SalesforceClient],
    sleeps: SleepRecorder,
) -> None:
    token_ok(mocked)
    mocked.get(URL, status=500, json=[{"message": "oops", "errorCode": "UNKNOWN_EXCEPTION"}])
    client = make_client(retry_max_attempts=4, retry_initial_wait_seconds=1.0)

    with pytest.raises(RetriableApiError) as caught:
        client.json_call("limits", "GET", "limits/")

    # Equal jitter: each wait is in the upper half of 1, 2, 4 seconds.
    assert len(sleeps.waits) == 3
    for wait, backoff in zip(sleeps.waits, [1.0, 2.0, 4.0], strict=True):
        assert backoff / 2 <= wait <= backoff
    assert caught.value.status == 500
    assert client.ledger.by_kind["limits"] == 4


def test_retries_stop_when_the_total_wait_would_pass_its_bound(
    mocked: responses.RequestsMock,
    make_client: Callable[..., SalesforceClient],
    sleeps: SleepRecorder,
) -> None:
    token_ok(mocked)
    mocked.get(URL, status=503, headers={"Retry-After": "50"}, body="")
    client = make_client(
        retry_max_attempts=10, retry_max_total_wait_seconds=120, retry_max_wait_seconds=60
    )

    with pytest.raises(RetriableApiError) as caught:
        client.json_call("limits", "GET", "limits/")

    assert sleeps.waits == [50.0, 50.0]
    assert caught.value.retry_after == 50.0


def test_a_retry_after_longer_than_the_longest_wait_is_capped(
    mocked: responses.RequestsMock,
    make_client: Callable[..., SalesforceClient],
    sleeps: SleepRecorder,
) -> None:
    token_ok(mocked)
    mocked.get(URL, status=503, headers={"Retry-After": "3600"}, body="")
    mocked.get(URL, json=LIMITS)
    client = make_client(retry_max_wait_seconds=30)

    assert client.json_call("limits", "GET", "limits/") == LIMITS
    assert sleeps.waits == [30.0]


def test_connection_errors_and_timeouts_are_retried(
    mocked: responses.RequestsMock,
    make_client: Callable[..., SalesforceClient],
    sleeps: SleepRecorder,
) -> None:
    token_ok(mocked)
    mocked.get(URL, body=requests.exceptions.ConnectionError("reset"))
    mocked.get(URL, body=requests.exceptions.ReadTimeout("slow"))
    mocked.get(URL, json=LIMITS)
    client = make_client()

    assert client.json_call("limits", "GET", "limits/") == LIMITS
    assert len(sleeps.waits) == 2


def test_a_bad_request_is_fatal_and_never_retried(
    mocked: responses.RequestsMock,
    make_client: Callable[..., SalesforceClient],
    sleeps: SleepRecorder,
) -> None:
    token_ok(mocked)
    mocked.get(
        f"{API}/query/",
        status=400,
        json=[{"message": "unexpected token: FROM", "errorCode": "MALFORMED_QUERY"}],
    )
    client = make_client()

    with pytest.raises(FatalApiError) as caught:
        client.call("query", lambda sf: sf.query("SELECT FROM"))

    assert caught.value.error_code == "MALFORMED_QUERY"
    assert "unexpected token" in str(caught.value)
    assert sleeps.waits == []
    assert client.ledger.by_kind["query"] == 1


def test_a_missing_permission_is_fatal(
    mocked: responses.RequestsMock, make_client: Callable[..., SalesforceClient]
) -> None:
    token_ok(mocked)
    mocked.get(URL, status=403, json=[{"message": "no access", "errorCode": "INSUFFICIENT_ACCESS"}])

    with pytest.raises(FatalApiError, match="INSUFFICIENT_ACCESS"):
        make_client().json_call("limits", "GET", "limits/")


def test_an_exhausted_org_allocation_stops_the_run_with_a_quota_error(
    mocked: responses.RequestsMock,
    make_client: Callable[..., SalesforceClient],
    sleeps: SleepRecorder,
) -> None:
    token_ok(mocked)
    mocked.get(
        URL,
        status=403,
        json=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
    )

    with pytest.raises(QuotaExhaustedError):
        make_client().json_call("limits", "GET", "limits/")
    assert sleeps.waits == []


def test_a_token_endpoint_that_is_briefly_down_is_retried_not_reported_as_bad_credentials(
    mocked: responses.RequestsMock,
    make_client: Callable[..., SalesforceClient],
    sleeps: SleepRecorder,
) -> None:
    mocked.post(TOKEN_URL, status=503, body="maintenance")
    token_ok(mocked)
    mocked.get(URL, json=LIMITS)
    client = make_client(auth="password")

    assert client.json_call("limits", "GET", "limits/") == LIMITS

    assert len(sleeps.waits) == 1
    assert 0.5 <= sleeps.waits[0] <= 1.0
    assert client.ledger.by_kind["auth"] == 2


def test_retry_after_given_as_an_http_date_is_waited_out(
    mocked: responses.RequestsMock,
    make_client: Callable[..., SalesforceClient],
    sleeps: SleepRecorder,
) -> None:
    token_ok(mocked)
    mocked.get(
        URL,
        status=503,
        headers={
            "Date": "Fri, 27 Nov 2026 15:00:00 GMT",
            "Retry-After": "Fri, 27 Nov 2026 15:00:12 GMT",
        },
        body="",
    )
    mocked.get(URL, json=LIMITS)

    make_client().json_call("limits", "GET", "limits/")

    assert sleeps.waits == [12.0]


def test_no_secret_reaches_the_log_or_the_error_on_a_failed_run(
    mocked: responses.RequestsMock,
    make_client: Callable[..., SalesforceClient],
    environ: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token_ok(mocked, token="00Dsecret-access-token")
    mocked.get(URL, status=503, body="busy")
    client = make_client(auth="password", retry_max_attempts=2)

    with pytest.raises(RetriableApiError) as caught:
        client.json_call("limits", "GET", "limits/")

    seen = caplog.text + str(caught.value) + repr(client.grant)
    for secret in (
        "00Dsecret-access-token",
        environ["KAM_SYNC_SF_PASSWORD"],
        environ["KAM_SYNC_SF_CLIENT_SECRET"],
        environ["KAM_SYNC_SF_SECURITY_TOKEN"],
    ):
        assert secret not in seen
