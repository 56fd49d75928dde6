"""HubSpot's API rate limits: a ten-second rolling window, a daily allocation, search's own.

Documented (developers.hubspot.com "API usage guidelines and limits"): private apps get
100 requests per 10 s (Free/Starter, 250,000 a day), 190 (Professional/Enterprise,
625,000 a day) or 250 with the API limit increase (1,000,000 a day); the CRM search
endpoints allow 5 requests per second. The `X-HubSpot-RateLimit-Secondly(-Remaining)` headers are still sent
but their limit "is no longer enforced" (same page): the sandbox sends them and enforces only
the ten-second window. A refused request gets 429 with
`{"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
"errorType": "RATE_LIMIT", "correlationId": ..., "policyName": "TEN_SECONDLY_ROLLING",
"requestId": ...}` (`DAILY` for the daily one). Responses carry the
`X-HubSpot-RateLimit-*` headers.

Guessed, not documented: search requests count towards the daily allocation but not the
ten-second window, and their responses carry no `X-HubSpot-RateLimit-*` headers; refused
requests do not use up allocation; HubSpot sends no `Retry-After` on its own 429s; the
daily allocation never resets while the sandbox runs (HubSpot resets it at midnight in
the portal's time zone).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WINDOW_SECONDS = 10.0
DAILY_LIMIT_BY_TIER = {100: 250_000, 190: 625_000, 250: 1_000_000}
SEARCH_REQUESTS_PER_SECOND = 5
DAILY_HEADERS = ("X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Daily-Remaining")

_POLICY_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "DAILY": "You have reached your daily limit.",
    "SECONDLY": "You have reached your secondly limit.",
}


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Whether a request may proceed, and the headers its response carries."""

    allowed: bool
    policy_name: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The 429 body HubSpot sends for the policy that refused the request."""
        policy = self.policy_name or "TEN_SECONDLY_ROLLING"
        return {
            "status": "error",
            "message": _POLICY_MESSAGES[policy],
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "requestId": str(uuid.uuid4()),
        }


class RateLimiter:
    """Admits or refuses requests; thread-safe. `clock` is monotonic seconds."""

    def __init__(
        self,
        tier: int = 190,
        *,
        daily_limit: int | None = None,
        search_per_second: int = SEARCH_REQUESTS_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if tier <= 0:
            raise ValueError(f"rate limit tier must be > 0 requests per 10 s, got {tier}")
        self.tier = tier
        self.daily_limit = daily_limit if daily_limit is not None else _daily_for(tier)
        self.search_per_second = search_per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._window: deque[float] = deque()
        self._search_window: deque[float] = deque()
        self._daily_used = 0

    @property
    def daily_remaining(self) -> int:
        return max(0, self.daily_limit - self._daily_used)

    def set_daily_remaining(self, remaining: int) -> None:
        """Pretend the day's allocation is used up but `remaining` requests."""
        with self._lock:
            self._daily_used = max(0, self.daily_limit - remaining)

    def admit(self, *, search: bool = False, oauth: bool = False) -> RateDecision:
        """Count one request if the limits allow it. Calls authorised with OAuth get no daily
        headers (developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines, "API
        usage guidelines and limits": the daily headers are for private apps only), though
        they count towards the day."""
        decision = self._admit(search)
        if oauth:
            for name in DAILY_HEADERS:
                decision.headers.pop(name, None)
        return decision

    def _admit(self, search: bool) -> RateDecision:
        with self._lock:
            now = self._clock()
            window = self._search_window if search else self._window
            span = 1.0 if search else WINDOW_SECONDS
            while window and window[0] <= now - span:
                window.popleft()
            if self._daily_used >= self.daily_limit:
                return RateDecision(False, "DAILY", self._headers(now, search))
            limit = self.search_per_second if search else self.tier
            if len(window) >= limit:
                policy = "SECONDLY" if search else "TEN_SECONDLY_ROLLING"
                return RateDecision(False, policy, self._headers(now, search))
            window.append(now)
            self._daily_used += 1
            return RateDecision(True, None, self._headers(now, search))

    def _headers(self, now: float, search: bool) -> dict[str, str]:
        if search:
            return {}
        in_last_second = sum(1 for stamp in self._window if stamp > now - 1.0)
        secondly = max(1, self.tier // 10)
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily_remaining),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_SECONDS * 1000)),
            "X-HubSpot-RateLimit-Max": str(self.tier),
            "X-HubSpot-RateLimit-Remaining": str(max(0, self.tier - len(self._window))),
            "X-HubSpot-RateLimit-Secondly": str(secondly),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(max(0, secondly - in_last_second)),
        }


def _daily_for(tier: int) -> int:
    if tier in DAILY_LIMIT_BY_TIER:
        return DAILY_LIMIT_BY_TIER[tier]
    # An unlisted tier gets the allocation of the nearest documented one below it.
    lower = [t for t in DAILY_LIMIT_BY_TIER if t <= tier]
    return DAILY_LIMIT_BY_TIER[max(lower)] if lower else DAILY_LIMIT_BY_TIER[100]
