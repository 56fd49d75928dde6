"""Where Salesforce reports the org's daily API usage, read into the connectors' one budget.

Salesforce reports the org's usage on every REST response in ``Sforce-Limit-Info``
(``api-usage=18/5000``, possibly followed by ``; per-app-api-usage=17/250(appName=x)``; REST API
Developer Guide, "Limit Info Header") and in ``/limits`` as ``DailyApiRequests: {Max, Remaining}``.
The policy (stop line and per-run share) is ``kam_sync_connectors.quota.QuotaBudget``.
"""

from __future__ import annotations

import re
from typing import Any

from kam_sync_connectors.quota import QuotaBudget

LIMITS_SOURCE = "/limits resource"
LIMIT_INFO_SOURCE = "Sforce-Limit-Info header"
LIMITS_REFUSED = (
    "salesforce: GET /limits was refused (403: the integration user lacks the 'View Setup and "
    "Configuration' permission); the daily API usage is read from the Sforce-Limit-Info "
    "header of each response instead"
)

_API_USAGE = re.compile(r"(?:^|[;\s])api-usage=(\d+)/(\d+)")


def parse_limit_info(header: str) -> tuple[int, int] | None:
    """``(used, limit)`` from a Sforce-Limit-Info value, or None if it has no api-usage."""
    match = _API_USAGE.search(header)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def observe_header(budget: QuotaBudget, header: str) -> None:
    """Feed the org's usage from a Sforce-Limit-Info header to ``budget``."""
    parsed = parse_limit_info(header)
    if parsed is not None:
        budget.observe(used=parsed[0], limit=parsed[1])


def observe_limits(budget: QuotaBudget, limits: Any) -> None:
    """Feed the org's usage from a ``/limits`` body to ``budget``."""
    daily = limits.get("DailyApiRequests") if isinstance(limits, dict) else None
    if not isinstance(daily, dict):
        return
    maximum, remaining = daily.get("Max"), daily.get("Remaining")
    if isinstance(maximum, int) and isinstance(remaining, int):
        budget.observe(used=maximum - remaining, limit=maximum)
