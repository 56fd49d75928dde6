"""The daily API budget: stop a run cleanly before it eats the account's allocation.

HubSpot reports the day's allocation in ``X-HubSpot-RateLimit-Daily`` and what is left in
``X-HubSpot-RateLimit-Daily-Remaining`` (private-app calls only; OAuth calls carry no daily
headers, so then only this run's own count is guarded). A run stops when the account has used
``stop_at_percent`` of the day's calls, or when this run alone has used ``max_percent_per_run``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping

from kam_sync.errors import QuotaExhaustedError
from kam_sync_connectors.base import QuotaStatus
from kam_sync_connectors.hubspot.api_errors import CONNECTOR, header


class DailyBudget:
    """Counts calls by kind and refuses the next one once the budget is spent."""

    def __init__(
        self, *, daily_limit: int, stop_at_percent: float, max_percent_per_run: float
    ) -> None:
        self.limit = daily_limit
        self.stop_at_percent = stop_at_percent
        self.max_percent_per_run = max_percent_per_run
        self.used: int | None = None  # account-wide, as the server last reported it
        self.calls_by_kind: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def run_calls(self) -> int:
        return sum(self.calls_by_kind.values())

    def check(self, kind: str) -> None:
        """Raise QuotaExhaustedError if one more call would overspend."""
        with self._lock:
            run_cap = int(self.limit * self.max_percent_per_run / 100)
            if self.run_calls + 1 > run_cap:
                raise QuotaExhaustedError(
                    f"this run has used {self.run_calls} API calls, its cap of "
                    f"{self.max_percent_per_run:g}% of {self.limit}; stopping before {kind}",
                    error_code="RUN_BUDGET",
                    connector=CONNECTOR,
                )
            day_cap = int(self.limit * self.stop_at_percent / 100)
            if self.used is not None and self.used + 1 > day_cap:
                raise QuotaExhaustedError(
                    f"the account has used {self.used} of {self.limit} API calls today "
                    f"(stop at {self.stop_at_percent:g}%); stopping before {kind}",
                    error_code="DAILY_BUDGET",
                    connector=CONNECTOR,
                )

    def count(self, kind: str) -> None:
        """One call of ``kind`` was sent (retries count: HubSpot counts them too)."""
        with self._lock:
            self.calls_by_kind[kind] += 1
            if self.used is not None:
                self.used += 1

    def observe(self, headers: Mapping[str, str] | None) -> None:
        """Take the account-wide figures from a response's daily headers."""
        daily = header(headers, "X-HubSpot-RateLimit-Daily")
        remaining = header(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        if daily is None or remaining is None:
            return
        try:
            limit, left = int(daily), int(remaining)
        except ValueError:
            return
        with self._lock:
            self.limit = limit
            self.used = max(limit - left, 0)

    def status(self) -> QuotaStatus:
        with self._lock:
            return QuotaStatus(
                used=self.used, limit=self.limit, calls_by_kind=dict(self.calls_by_kind)
            )
