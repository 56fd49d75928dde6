"""The connectors' one daily API budget: the account's share of the day and the run's share."""

from __future__ import annotations

import pytest

from kam_sync.errors import QuotaExhaustedError
from kam_sync_connectors.quota import DAILY_BUDGET, RUN_BUDGET, QuotaBudget


class Calls:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        return self.n


def budget(calls: Calls, *, daily_limit: int | None = None) -> QuotaBudget:
    return QuotaBudget(
        connector="crm",
        stop_at_percent=80,
        max_percent_per_run=25,
        run_calls=calls,
        daily_limit=daily_limit,
    )


def test_nothing_is_refused_while_the_allocation_is_unknown() -> None:
    calls = Calls()
    calls.n = 10**9
    budget(calls).check()


def test_a_call_that_would_take_the_account_past_its_stop_line_is_refused() -> None:
    b = budget(Calls())
    b.observe(used=799, limit=1000)
    b.check()  # the 800th call of the day is the last one allowed
    b.spent()

    with pytest.raises(QuotaExhaustedError) as caught:
        b.check("batch update companies")

    assert caught.value.error_code == DAILY_BUDGET
    assert caught.value.exit_code == 4
    assert "800 of 1000" in str(caught.value)
    assert "before batch update companies" in str(caught.value)


def test_a_call_that_would_take_the_run_past_its_share_is_refused() -> None:
    calls = Calls()
    b = budget(calls, daily_limit=40)  # 25% of 40: 10 calls
    calls.n = 9
    b.check()
    calls.n = 10

    with pytest.raises(QuotaExhaustedError, match="this run used 10 API calls") as caught:
        b.check()

    assert caught.value.error_code == RUN_BUDGET


def test_the_reported_allocation_replaces_the_configured_one() -> None:
    calls = Calls()
    b = budget(calls, daily_limit=40)
    b.observe(used=0, limit=1000)
    calls.n = 200
    b.check()

    assert (b.used, b.limit) == (0, 1000)
