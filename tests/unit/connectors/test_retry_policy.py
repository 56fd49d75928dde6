"""The connectors' one retry policy, without HTTP: waits asserted through an injected sleep."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from kam_sync.errors import FatalApiError, RetriableApiError
from kam_sync_connectors.hubspot.settings import HubSpotSettings
from kam_sync_connectors.retry import Retrier, RetryPolicy
from kam_sync_connectors.salesforce.settings import SalesforceSettings

POLICY = RetryPolicy(
    max_attempts=6, initial_wait_seconds=1.0, max_wait_seconds=8.0, max_total_wait_seconds=100.0
)


def failing(*errors: Exception, then: str = "done") -> Callable[[], str]:
    pending = list(errors)

    def call() -> str:
        if pending:
            raise pending.pop(0)
        return then

    return call


def test_waits_double_from_the_first_and_stay_under_the_longest_wait() -> None:
    slept: list[float] = []
    retrier = Retrier(POLICY, connector="x", sleep=slept.append, random=lambda: 1.0)

    errors = [RetriableApiError("503") for _ in range(5)]
    assert retrier.run("read", failing(*errors)) == "done"

    assert slept == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert retrier.retries == 5


def test_jitter_keeps_each_wait_in_the_upper_half_of_its_back_off() -> None:
    slept: list[float] = []
    retrier = Retrier(POLICY, connector="x", sleep=slept.append, random=lambda: 0.0)

    retrier.run("read", failing(RetriableApiError("503"), RetriableApiError("503")))

    assert slept == [0.5, 1.0]


def test_retry_after_is_waited_as_sent_when_under_the_cap_and_capped_above_it() -> None:
    slept: list[float] = []
    retrier = Retrier(POLICY, connector="x", sleep=slept.append, random=lambda: 0.0)

    retrier.run(
        "read",
        failing(RetriableApiError("429", retry_after=3), RetriableApiError("429", retry_after=900)),
    )

    assert slept == [3.0, 8.0]


def test_it_gives_up_after_the_last_attempt_and_raises_the_last_error() -> None:
    slept: list[float] = []
    retrier = Retrier(POLICY, connector="x", sleep=slept.append)
    errors = [RetriableApiError(f"try {n}") for n in range(1, 8)]

    with pytest.raises(RetriableApiError, match="try 6"):
        retrier.run("read", failing(*errors))

    assert len(slept) == 5


def test_it_gives_up_before_a_wait_that_would_pass_the_total_wait_bound() -> None:
    slept: list[float] = []
    policy = RetryPolicy(
        max_attempts=20, initial_wait_seconds=1, max_wait_seconds=60, max_total_wait_seconds=100
    )
    retrier = Retrier(policy, connector="x", sleep=slept.append)
    errors = [RetriableApiError("429", retry_after=40) for _ in range(10)]

    with pytest.raises(RetriableApiError):
        retrier.run("read", failing(*errors))

    assert slept == [40.0, 40.0]


def test_a_fatal_error_is_raised_at_once() -> None:
    slept: list[float] = []
    retrier = Retrier(POLICY, connector="x", sleep=slept.append)

    with pytest.raises(FatalApiError):
        retrier.run("read", failing(FatalApiError("400")))

    assert slept == []


@pytest.mark.parametrize("model", [SalesforceSettings, HubSpotSettings])
def test_both_connectors_build_the_policy_from_the_same_setting_names(
    model: type[SalesforceSettings] | type[HubSpotSettings],
) -> None:
    settings = model(
        retry_max_attempts=3,
        retry_initial_wait_seconds=0.25,
        retry_max_wait_seconds=9,
        retry_max_total_wait_seconds=30,
    )

    assert RetryPolicy.from_settings(settings) == RetryPolicy(
        max_attempts=3, initial_wait_seconds=0.25, max_wait_seconds=9, max_total_wait_seconds=30
    )


def test_hubspots_old_retry_attempts_spelling_still_works_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        settings = HubSpotSettings.model_validate({"retry_attempts": 4})

    assert settings.retry_max_attempts == 4
    assert "'retry_attempts' is the old name of 'retry_max_attempts'" in caplog.text


def test_giving_both_spellings_is_refused() -> None:
    with pytest.raises(ValueError, match="give only 'retry_max_attempts'"):
        HubSpotSettings.model_validate({"retry_attempts": 4, "retry_max_attempts": 5})
