"""Checks of ``kam-sync doctor`` that every connector makes the same way."""

from __future__ import annotations

from collections.abc import Callable

from kam_sync.errors import KamSyncError, QuotaExhaustedError
from kam_sync_connectors.base import DoctorCheck, QuotaStatus


def budget_check(
    check_quota: Callable[[], QuotaStatus],
    *,
    exhausted_fix: str,
    left: Callable[[QuotaStatus], str],
) -> DoctorCheck:
    """The API budget left: ``left`` says it in the CRM's words when the CRM reports it;
    ``exhausted_fix`` is the fix when the budget is spent."""
    try:
        status = check_quota()
    except QuotaExhaustedError as exc:
        return DoctorCheck("API budget", False, str(exc), exhausted_fix)
    except KamSyncError as exc:
        return DoctorCheck("API budget", False, f"could not be read: {exc}", "")
    if status.remaining is None or status.limit is None:
        return DoctorCheck("API budget", True, "the daily allocation is not reported")
    return DoctorCheck("API budget", True, left(status))
