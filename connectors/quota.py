"""The one daily API budget of every connector: the account's share of the day, and this run's.

A CRM allots a number of API calls per day to the whole account (Salesforce: the org's
``DailyApiRequests``; HubSpot: the account's daily limit). kam-sync shares that allocation with
every other integration, so a run stops cleanly *before* a call would break either bound:

* the account's usage would pass ``stop_at_percent`` of the day's allocation
  (``KAM_DAILY_BUDGET``), or
* this run's own calls would pass ``max_percent_per_run`` of it (``KAM_RUN_BUDGET``).

Both raise ``QuotaExhaustedError`` (exit 4: the run stops and resumes next time). Each connector
feeds the budget what its CRM reports (``observe``) and counts what it sends; the policy is here.
While the allocation is unknown nothing is refused: the connector reads it at the start of a run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from kam_sync.errors import QuotaExhaustedError

DAILY_BUDGET = "KAM_DAILY_BUDGET"
RUN_BUDGET = "KAM_RUN_BUDGET"


class QuotaBudget:
    """Refuses the next call once the day's share or the run's share is spent."""

    def __init__(
        self,
        *,
        connector: str,
        stop_at_percent: float,
        max_percent_per_run: float,
        run_calls: Callable[[], int],
        daily_limit: int | None = None,
    ) -> None:
        self.connector = connector
        self.stop_at_percent = stop_at_percent
        self.max_percent_per_run = max_percent_per_run
        self._run_calls = run_calls
        self.limit = daily_limit
        self.used: int | None = None  # account-wide, as the CRM last reported it
        self._lock = threading.Lock()

    def observe(self, *, used: int, limit: int) -> None:
        """The account's usage and daily allocation, as the CRM just reported them."""
        with self._lock:
            self.limit = limit
            self.used = max(used, 0)

    def spent(self, calls: int = 1) -> None:
        """``calls`` more were sent: keeps the account's usage current between reports."""
        with self._lock:
            if self.used is not None:
                self.used += calls

    def check(self, before: str = "the next call") -> None:
        """Raise QuotaExhaustedError if one more call would pass either share."""
        with self._lock:
            limit, used = self.limit, self.used
        if limit is None or limit <= 0:
            return
        day_line = limit * self.stop_at_percent / 100
        if used is not None and used + 1 > day_line:
            raise QuotaExhaustedError(
                f"the account has used {used} of {limit} API calls today, at its "
                f"{self.stop_at_percent:g}% stop line (quota_stop_at_percent); stopping before "
                f"{before}; the run resumes next time",
                error_code=DAILY_BUDGET,
                connector=self.connector,
            )
        run_share = limit * self.max_percent_per_run / 100
        spent = self._run_calls()
        if spent + 1 > run_share:
            raise QuotaExhaustedError(
                f"this run used {spent} API calls, its share of {self.max_percent_per_run:g}% "
                f"of the daily {limit} (quota_max_percent_per_run); stopping before {before}; "
                "the run resumes next time",
                error_code=RUN_BUDGET,
                connector=self.connector,
            )
