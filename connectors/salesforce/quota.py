"""The daily API budget: what the org has used, and what this run may still spend.

Salesforce reports the org's usage on every REST response in ``Sforce-Limit-Info``
(``api-usage=18/5000``, possibly followed by ``; per-app-api-usage=17/250(appName=x)``; REST API
Developer Guide, "Limit Info Header") and in ``/limits`` as ``DailyApiRequests: {Max, Remaining}``.
The guard stops a run *before* a call would break either bound:

* the org's usage reaches ``quota_stop_at_percent`` of the daily allocation, or
* this run's own calls reach ``quota_max_percent_per_run`` of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kam_sync.errors import QuotaExhaustedError

_API_USAGE = re.compile(r"(?:^|[;\s])api-usage=(\d+)/(\d+)")


def parse_limit_info(header: str) -> tuple[int, int] | None:
    """``(used, limit)`` from a Sforce-Limit-Info value, or None if it has no api-usage."""
    match = _API_USAGE.search(header)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


class QuotaGuard:
    """Raises QuotaExhaustedError before a call that the budget does not allow."""

    def __init__(
        self,
        *,
        stop_at_percent: float,
        max_percent_per_run: float,
        calls_this_run: Callable[[], int],
    ) -> None:
        self.stop_at_percent = stop_at_percent
        self.max_percent_per_run = max_percent_per_run
        self._calls_this_run = calls_this_run
        self.used: int | None = None
        self.limit: int | None = None

    def observe_header(self, header: str) -> None:
        """Take the org's usage from a Sforce-Limit-Info header."""
        parsed = parse_limit_info(header)
        if parsed is not None:
            self.used, self.limit = parsed

    def observe_limits(self, limits: Any) -> None:
        """Take the org's usage from a ``/limits`` body."""
        daily = limits.get("DailyApiRequests") if isinstance(limits, dict) else None
        if not isinstance(daily, dict):
            return
        maximum, remaining = daily.get("Max"), daily.get("Remaining")
        if isinstance(maximum, int) and isinstance(remaining, int):
            self.limit = maximum
            self.used = maximum - remaining

    def check(self) -> None:
        """Raise if one more API call would go past the budget."""
        if self.limit is None or self.used is None or self.limit <= 0:
            return
        stop_at = self.limit * self.stop_at_percent / 100
        if self.used >= stop_at:
            raise QuotaExhaustedError(
                f"daily API usage is {self.used} of {self.limit}, at or above the "
                f"{self.stop_at_percent:g}% stop line; the run stops and resumes next time",
                connector="salesforce",
                error_code="KAM_QUOTA_STOP",
            )
        run_cap = self.limit * self.max_percent_per_run / 100
        spent = self._calls_this_run()
        if spent >= run_cap:
            raise QuotaExhaustedError(
                f"this run used {spent} API calls, its budget of {self.max_percent_per_run:g}% "
                f"of the daily {self.limit}; the run stops and resumes next time",
                connector="salesforce",
                error_code="KAM_RUN_BUDGET",
            )
