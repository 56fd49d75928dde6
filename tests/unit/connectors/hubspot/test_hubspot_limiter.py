"""The client-side limiter keeps a run inside HubSpot's windows, on a fake clock."""

from __future__ import annotations

from kam_sync_connectors.hubspot.limiter import RateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _limiter(t: FakeTime, per_window: int = 190) -> RateLimiter:
    return RateLimiter(
        per_window=per_window,
        window_seconds=10.0,
        search_per_second=5,
        clock=t.clock,
        sleep=t.sleep,
    )


def test_the_tiers_calls_go_out_at_once_and_the_next_waits_for_the_window() -> None:
    t = FakeTime()
    limiter = _limiter(t)
    for _ in range(190):
        limiter.acquire()
    assert t.slept == []
    limiter.acquire()
    assert t.now == 10.0


def test_no_ten_second_span_ever_holds_more_than_the_tier() -> None:
    t = FakeTime()
    limiter = _limiter(t, per_window=100)
    stamps = []
    for n in range(450):
        limiter.acquire()
        stamps.append(t.now)
        t.now += 0.01 * (n % 3)  # uneven spacing between calls
    for i, start in enumerate(stamps):
        in_window = [s for s in stamps[i:] if s < start + 10.0]
        assert len(in_window) <= 100


def test_search_calls_are_held_to_five_per_second() -> None:
    t = FakeTime()
    limiter = _limiter(t)
    for _ in range(12):
        limiter.acquire(search=True)
    # 5 at t=0, 5 at t=1, 2 at t=2
    assert t.now == 2.0


def test_remaining_zero_in_the_headers_pauses_until_the_window_passes() -> None:
    t = FakeTime()
    limiter = _limiter(t)
    limiter.acquire()
    limiter.observe(
        {
            "X-HubSpot-RateLimit-Max": "190",
            "X-HubSpot-RateLimit-Remaining": "0",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        }
    )
    limiter.acquire()
    assert t.now == 10.0


def test_a_lower_max_in_the_headers_lowers_the_window() -> None:
    t = FakeTime()
    limiter = _limiter(t, per_window=250)
    limiter.observe({"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "99"})
    for _ in range(101):
        limiter.acquire()
    assert t.now == 10.0


def test_a_429_pause_holds_the_next_call_back() -> None:
    t = FakeTime()
    limiter = _limiter(t)
    limiter.pause(3.0)
    limiter.acquire()
    assert t.now == 3.0
    assert limiter.waited_seconds == 3.0


def test_the_deprecated_secondly_headers_hold_no_call_back() -> None:
    # HubSpot no longer enforces the limit these headers describe (API usage guidelines): a
    # run that obeyed them would never use the ten-second window's room for a burst.
    t = FakeTime()
    limiter = _limiter(t)
    for _ in range(60):
        limiter.acquire()
        limiter.observe(
            {"X-HubSpot-RateLimit-Secondly": "19", "X-HubSpot-RateLimit-Secondly-Remaining": "0"}
        )
    assert t.slept == [] and t.now == 0.0


def test_a_window_used_up_after_a_pause_is_paced_by_the_window_not_by_the_second() -> None:
    # After an idle spell (the engine assessing) the window has room for a whole tier at once,
    # then frees a slot as each call leaves it: the whole allowed rate, no more.
    t = FakeTime()
    limiter = _limiter(t, per_window=250)
    stamps = []
    for _ in range(750):
        limiter.acquire()
        stamps.append(t.now)
    assert stamps[249] == 0.0 and stamps[250] == 10.0
    assert stamps[-1] == 20.0  # 750 calls in 20 s: 250 at once, then 25 a second
