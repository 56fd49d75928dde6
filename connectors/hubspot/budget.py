"""HubSpot's side of the daily API budget: calls counted by kind, and the daily headers.

HubSpot reports the day's allocation in ``X-HubSpot-RateLimit-Daily`` and what is left in
``X-HubSpot-RateLimit-Daily-Remaining`` on private-app calls; calls authorised with OAuth carry
no daily headers (developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines,
"API usage guidelines and limits"). Until a header reports it, the limit is the configured one
(``crm.hubspot.daily_limit``, else the ``tier``'s, else the smallest tier's 250,000). Where no
header ever reports usage (OAuth), the run counts its own calls as the account's usage, so
both the day's stop line and the run's share hold against the configured limit: on a Starter
portal one run cannot spend the day. The policy (stop line and per-run share) is
``kam_sync_connectors.quota.QuotaBudget``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping

from kam_sync_connectors.base import QuotaStatus
from kam_sync_connectors.hubspot.api_errors import CONNECTOR, header
from kam_sync_connectors.hubspot.settings import HubSpotSettings
from kam_sync_connectors.quota import QuotaBudget


class CallCounts:
    """API calls sent by this run, by kind (retries count: HubSpot counts them too)."""

    def __init__(self) -> None:
        self._by_kind: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, kind: str) -> None:
        with self._lock:
            self._by_kind[kind] += 1

    def total(self) -> int:
        with self._lock:
            return sum(self._by_kind.values())

    def by_kind(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_kind)


def budget_for(settings: HubSpotSettings, counts: CallCounts) -> QuotaBudget:
    """The run's budget, with the configured daily limit until HubSpot reports its own."""
    return QuotaBudget(
        connector=CONNECTOR,
        stop_at_percent=settings.quota_stop_at_percent,
        max_percent_per_run=settings.quota_max_percent_per_run,
        run_calls=counts.total,
        daily_limit=settings.configured_daily_limit(),
    )


def count_own_calls_if_unreported(budget: QuotaBudget, counts: CallCounts) -> None:
    """No daily header reported the account's usage (OAuth): from now on the account's usage
    is at least this run's calls, counted against the configured limit."""
    if budget.used is None and budget.limit is not None:
        budget.observe(used=counts.total(), limit=budget.limit)


def observe_daily_headers(budget: QuotaBudget, headers: Mapping[str, str] | None) -> None:
    """Feed the account-wide figures of a response's daily headers to ``budget``."""
    daily = header(headers, "X-HubSpot-RateLimit-Daily")
    remaining = header(headers, "X-HubSpot-RateLimit-Daily-Remaining")
    if daily is None or remaining is None:
        return
    try:
        limit, left = int(daily), int(remaining)
    except ValueError:
        return
    budget.observe(used=limit - left, limit=limit)


def quota_status(budget: QuotaBudget, counts: CallCounts) -> QuotaStatus:
    return QuotaStatus(used=budget.used, limit=budget.limit, calls_by_kind=counts.by_kind())
