"""Client-side pacing so that a run stays inside HubSpot's rolling windows instead of hitting 429s.

Two sliding windows: the account tier's requests per ten seconds (every call), and the search
endpoints' own requests per second. A sliding window uses the whole allowed rate: after a pause
(the engine storing or assessing) a whole tier's calls may go at once, and from then on a slot
frees as each call leaves the window. The ``X-HubSpot-RateLimit-*`` headers of each response
correct our own count: HubSpot counts every app of the account against the same window, so
``Remaining`` can be lower than what we alone have sent. The clock and sleep are injected so
tests can run a whole storm in no wall time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from kam_sync_connectors.hubspot.api_errors import header

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class SlidingWindow:
    """At most ``capacity`` events in any ``seconds``-long window."""

    def __init__(self, capacity: int, seconds: float) -> None:
        self.capacity = capacity
        self.seconds = seconds
        self._events: deque[float] = deque()
        self._blocked_until = 0.0

    def wait_needed(self, now: float) -> float:
        """Seconds to wait before one more event fits."""
        while self._events and self._events[0] <= now - self.seconds:
            self._events.popleft()
        wait = max(self._blocked_until - now, 0.0)
        if len(self._events) >= self.capacity:
            wait = max(wait, self._events[len(self._events) - self.capacity] + self.seconds - now)
        return wait

    def record(self, now: float) -> None:
        self._events.append(now)

    def block_until(self, moment: float) -> None:
        """Take no event before ``moment`` (the server said the window is full)."""
        self._blocked_until = max(self._blocked_until, moment)

    def first_free_slot(self, now: float) -> float | None:
        """When the oldest of our own events in the window leaves it (None: we have none).

        The server's window holds our events and other apps'; its oldest is no younger than
        ours, so a slot frees by then at the latest.
        """
        while self._events and self._events[0] <= now - self.seconds:
            self._events.popleft()
        return self._events[0] + self.seconds if self._events else None


class RateLimiter:
    """Paces calls for the ten-second window and search's per-second limit."""

    def __init__(
        self,
        *,
        per_window: int,
        window_seconds: float,
        search_per_second: int,
        margin_seconds: float = 0.0,
        search_margin_seconds: float = 0.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        # The server stamps a request when it arrives, which varies with network jitter: each
        # window is kept a margin longer than the server's so a slot is never reused early.
        self.window = SlidingWindow(per_window, window_seconds + margin_seconds)
        self.search_window = SlidingWindow(search_per_second, 1.0 + search_margin_seconds)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.waited_seconds = 0.0

    def acquire(self, *, search: bool = False) -> None:
        """Block until one more call (a search call if ``search``) fits in every window."""
        with self._lock:
            while True:
                now = self._clock()
                wait = self.window.wait_needed(now)
                if search:
                    wait = max(wait, self.search_window.wait_needed(now))
                if wait <= 0:
                    break
                self.waited_seconds += wait
                self._sleep(wait)
            self.window.record(now)
            if search:
                self.search_window.record(now)

    def observe(self, headers: Mapping[str, str] | None, *, search: bool = False) -> None:
        """Learn from a response's ``X-HubSpot-RateLimit-*`` headers."""
        if not headers:
            return
        with self._lock:
            now = self._clock()
            self._observe_window(
                self.search_window if search else self.window,
                maximum=header(headers, "X-HubSpot-RateLimit-Max"),
                remaining=header(headers, "X-HubSpot-RateLimit-Remaining"),
                interval_ms=header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds"),
                now=now,
            )
            # X-HubSpot-RateLimit-Secondly(-Remaining) are not read: "the limit referenced by
            # these headers is no longer enforced and these two headers should be considered
            # deprecated" (developers.hubspot.com/docs/api/usage-details, "Rate limits").
            # Obeying them held every second to a tenth of the window, so the room a pause
            # leaves in the ten-second window was never used.

    def pause(self, seconds: float, *, search: bool = False) -> None:
        """The server answered 429: send nothing (of that kind) for ``seconds``."""
        with self._lock:
            target = self.search_window if search else self.window
            target.block_until(self._clock() + seconds)

    @staticmethod
    def _observe_window(
        window: SlidingWindow,
        *,
        maximum: str | None,
        remaining: str | None,
        interval_ms: str | None,
        now: float,
    ) -> None:
        max_value = _int(maximum)
        if max_value is not None and 0 < max_value < window.capacity:
            # The account's tier is lower than configured: trust the server.
            window.capacity = max_value
        if _int(remaining) == 0:
            # The window is full (with other apps' calls too, perhaps): wait until one of ours
            # leaves it, or a whole interval when none of ours is in it.
            free = window.first_free_slot(now)
            interval = (_int(interval_ms) or window.seconds * 1000) / 1000.0
            window.block_until(free if free is not None else now + interval)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None
