"""The one call path: retries (sleep patched), 429 waits, error mapping, token renewal, budget."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import hubspot.crm.associations.v4.exceptions as associations_exceptions
import hubspot.crm.objects.exceptions as objects_exceptions
import hubspot.crm.properties.exceptions as properties_exceptions
import hubspot.oauth.exceptions as oauth_exceptions
import pytest
import urllib3

from kam_sync.errors import AuthError, FatalApiError, QuotaExhaustedError, RetriableApiError
from kam_sync_connectors.hubspot.api_errors import sdk_exception_classes
from kam_sync_connectors.hubspot.auth import OAuthTokens, TokenGrant
from kam_sync_connectors.hubspot.budget import CallCounts, quota_status
from kam_sync_connectors.hubspot.calls import ApiCaller
from kam_sync_connectors.hubspot.limiter import RateLimiter
from kam_sync_connectors.hubspot.sdk import HubSpotSdk
from kam_sync_connectors.quota import DAILY_BUDGET, RUN_BUDGET, QuotaBudget
from kam_sync_connectors.retry import RetryPolicy


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Ok:
    """What the SDK returns with _preload_content=False: a urllib3 response."""

    def __init__(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.data = json.dumps(body).encode()
        self.headers = headers or {}
        self.status = 200

    def release_conn(self) -> None:
        pass


def api_exception(
    status: int,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    module: Any = objects_exceptions,
) -> Exception:
    exc = module.ApiException(status=status, reason="x")
    exc.body = json.dumps(body or {}).encode()
    exc.headers = headers or {}
    return exc  # type: ignore[no-any-return]


class Script:
    """An SDK method that raises or returns the scripted outcomes in order."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


SDK_ERRORS = sdk_exception_classes(HubSpotSdk("http://127.0.0.1:9").api_objects)


def caller(
    t: FakeTime,
    *,
    tokens: Any = None,
    daily_limit: int = 1_000_000,
    attempts: int = 6,
    set_token: Callable[[str], None] = lambda _token: None,
) -> ApiCaller:
    counts = CallCounts()
    budget = QuotaBudget(
        connector="hubspot",
        stop_at_percent=80,
        max_percent_per_run=25,
        run_calls=counts.total,
        daily_limit=daily_limit,
    )
    return ApiCaller(
        set_token=set_token,
        tokens=tokens,
        limiter=RateLimiter(
            per_window=190, window_seconds=10, search_per_second=5, clock=t.clock, sleep=t.sleep
        ),
        budget=budget,
        counts=counts,
        retry=RetryPolicy(
            max_attempts=attempts,
            initial_wait_seconds=0.5,
            max_wait_seconds=60,
            max_total_wait_seconds=300,
        ),
        timeout_seconds=12.5,
        sdk_errors=SDK_ERRORS,
        sleep=t.sleep,
    )


RATE_LIMITED = {"status": "error", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}


def test_every_generated_packages_exception_class_is_caught() -> None:
    for module in (
        objects_exceptions,
        properties_exceptions,
        associations_exceptions,
        oauth_exceptions,
    ):
        assert module.OpenApiException in SDK_ERRORS


def test_every_call_carries_the_time_out_and_asks_for_the_raw_response() -> None:
    t = FakeTime()
    fn = Script(Ok({"results": []}))
    caller(t).call("list", "list companies", fn)
    assert fn.calls[0]["_request_timeout"] == 12.5
    assert fn.calls[0]["_preload_content"] is False


def test_a_429_with_retry_after_waits_exactly_that_long_then_succeeds() -> None:
    t = FakeTime()
    fn = Script(api_exception(429, RATE_LIMITED, {"Retry-After": "3"}), Ok({"ok": 1}))
    response = caller(t).call("write", "batch update", fn)
    assert response.body == {"ok": 1}
    assert sum(t.slept) == pytest.approx(3.0)


def test_a_429_without_retry_after_waits_the_policys_window() -> None:
    t = FakeTime()
    fn = Script(api_exception(429, RATE_LIMITED), Ok({}))
    caller(t).call("write", "batch update", fn)
    assert sum(t.slept) == pytest.approx(10.0)


def test_a_secondly_429_waits_one_second() -> None:
    t = FakeTime()
    body = {**RATE_LIMITED, "policyName": "SECONDLY"}
    fn = Script(api_exception(429, body), Ok({}))
    caller(t).call("search", "search", fn, search=True)
    assert sum(t.slept) == pytest.approx(1.0)


def test_post_calls_are_retried_after_a_dropped_connection_and_a_503() -> None:
    t = FakeTime()
    fn = Script(
        urllib3.exceptions.ProtocolError("connection aborted"),
        api_exception(503, {"category": "SERVICE_UNAVAILABLE"}),
        Ok({"done": True}),
    )
    c = caller(t)
    assert c.call("write", "batch update", fn).body == {"done": True}
    assert len(fn.calls) == 3
    assert c.retries == 2
    assert c.counts.by_kind()["write"] == 3


def test_retries_give_up_after_the_configured_attempts() -> None:
    t = FakeTime()
    fn = Script(*[api_exception(502) for _ in range(4)])
    with pytest.raises(RetriableApiError):
        caller(t, attempts=4).call("list", "list companies", fn)
    assert len(fn.calls) == 4


def test_a_bad_request_is_fatal_and_not_retried() -> None:
    t = FakeTime()
    fn = Script(api_exception(400, {"category": "VALIDATION_ERROR", "message": "bad"}))
    with pytest.raises(FatalApiError) as info:
        caller(t).call("search", "search companies", fn)
    assert info.value.status == 400
    assert len(fn.calls) == 1


def test_errors_from_the_properties_package_are_mapped_too() -> None:
    t = FakeTime()
    fn = Script(api_exception(404, {"category": "OBJECT_NOT_FOUND"}, module=properties_exceptions))
    with pytest.raises(FatalApiError):
        caller(t).call("describe", "read properties", fn)


def test_the_daily_policy_429_stops_the_run_without_retrying() -> None:
    t = FakeTime()
    fn = Script(api_exception(429, {**RATE_LIMITED, "policyName": "DAILY"}))
    with pytest.raises(QuotaExhaustedError):
        caller(t).call("list", "list companies", fn)
    assert len(fn.calls) == 1


def test_the_budget_stops_before_the_account_passes_its_share_of_the_day() -> None:
    t = FakeTime()

    def daily(remaining: int) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": "1000",
            "X-HubSpot-RateLimit-Daily-Remaining": str(remaining),
        }

    # The account has used 798, 799, 800 of 1000 calls; the budget stops at 80% = 800.
    fn = Script(Ok({}, daily(202)), Ok({}, daily(201)), Ok({}, daily(200)))
    c = caller(t, daily_limit=1000)
    for _ in range(3):
        c.call("list", "list companies", fn)
    with pytest.raises(QuotaExhaustedError) as caught:
        c.call("list", "list companies", fn)
    assert caught.value.error_code == DAILY_BUDGET
    assert len(fn.calls) == 3
    assert quota_status(c.budget, c.counts).used == 800


def test_the_budget_stops_a_run_that_used_its_own_share() -> None:
    t = FakeTime()
    c = caller(t, daily_limit=40)  # 25% per run: 10 calls
    fn = Script(*[Ok({}) for _ in range(11)])
    for _ in range(10):
        c.call("search", "search", fn, search=True)
    with pytest.raises(QuotaExhaustedError) as caught:
        c.call("search", "search", fn, search=True)
    assert caught.value.error_code == RUN_BUDGET
    assert quota_status(c.budget, c.counts).calls_by_kind == {"search": 10}


class SlowToken:
    """A token source whose token takes a moment to hand over (a keyring, a lock)."""

    renewable = False

    def access_token(self) -> str:
        time.sleep(0.01)
        return "token"


def test_calls_from_several_threads_never_pass_the_run_s_share_together() -> None:
    t = FakeTime()
    c = caller(t, daily_limit=40, tokens=SlowToken())  # 25% per run: 10 calls
    sent: list[int] = []
    lock = threading.Lock()

    def fn(*_args: Any, **_kwargs: Any) -> Ok:
        with lock:
            sent.append(1)
        return Ok({})

    def one_call() -> str:
        try:
            c.call("list", "list", fn)
        except QuotaExhaustedError as exc:
            return str(exc.error_code)
        return "sent"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _n: one_call(), range(30)))
    # Checked and counted as one step: the eleventh call is refused whichever thread sends it.
    assert len(sent) == 10
    assert outcomes.count("sent") == 10 and outcomes.count(RUN_BUDGET) == 20
    assert quota_status(c.budget, c.counts).calls_by_kind == {"list": 10}


def test_an_expired_oauth_token_is_renewed_once_and_the_call_sent_again() -> None:
    t = FakeTime()
    grants = iter(["first", "second"])
    tokens = OAuthTokens(
        client_id="c",
        client_secret="s",
        refresh_token="r",
        refresh=lambda *_: TokenGrant(access_token=next(grants), expires_in=1800),
        clock=t.clock,
    )
    used: list[str] = []
    fn = Script(api_exception(401, {"category": "EXPIRED_AUTHENTICATION"}), Ok({"ok": True}))
    caller(t, tokens=tokens, set_token=used.append).call("list", "list deals", fn)
    assert used == ["first", "second"]
    assert tokens.renewals == 2


def test_a_private_app_token_that_is_refused_is_an_auth_error() -> None:
    from kam_sync_connectors.hubspot.auth import PrivateAppToken

    t = FakeTime()
    fn = Script(api_exception(401, {"category": "INVALID_AUTHENTICATION"}))
    with pytest.raises(AuthError):
        caller(t, tokens=PrivateAppToken("pat")).call("list", "list deals", fn)


def test_an_oauth_token_is_renewed_before_it_expires() -> None:
    t = FakeTime()
    renewals: list[float] = []

    def refresh(*_: str) -> TokenGrant:
        renewals.append(t.now)
        return TokenGrant(access_token=f"tok{len(renewals)}", expires_in=1800)

    tokens = OAuthTokens(
        client_id="c",
        client_secret="s",
        refresh_token="r",
        refresh=refresh,
        margin_seconds=60,
        clock=t.clock,
    )
    assert tokens.access_token() == "tok1"
    t.now = 1700.0
    assert tokens.access_token() == "tok1"
    t.now = 1741.0
    assert tokens.access_token() == "tok2"
    assert "tok" not in repr(tokens)
