"""Pages fetched ahead in a thread: order kept, errors after the pages before them, a stop that
sends nothing more once it returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from kam_sync.errors import RetriableApiError
from kam_sync_connectors.prefetch import prefetched


def test_items_come_in_order_and_the_stream_runs_in_another_thread() -> None:
    threads: list[str] = []

    def pages() -> Iterator[int]:
        for n in range(50):
            threads.append(threading.current_thread().name)
            yield n

    assert list(prefetched(pages(), 3, name="fetch")) == list(range(50))
    assert set(threads) == {"fetch"}


def test_the_stream_works_ahead_while_the_consumer_is_busy() -> None:
    fetched: list[float] = []

    def pages() -> Iterator[int]:
        for n in range(4):
            time.sleep(0.05)  # a call to the CRM
            fetched.append(time.perf_counter())
            yield n

    started = time.perf_counter()
    for _ in prefetched(pages(), 2):
        time.sleep(0.05)  # the engine storing the page
    wall = time.perf_counter() - started
    # One after the other: 4 x (0.05 + 0.05) = 0.4 s; overlapped: about 0.25 s.
    assert wall < 0.35


def test_an_error_in_the_stream_comes_after_the_pages_before_it() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise RetriableApiError("the CRM went away", connector="hubspot")

    got: list[int] = []
    with pytest.raises(RetriableApiError, match="went away"):
        for page in prefetched(pages(), 2):
            got.append(page)
    assert got == [1, 2]


def test_a_consumer_that_stops_leaves_no_call_running_and_closes_the_stream() -> None:
    sent: list[int] = []
    closed = threading.Event()

    def pages() -> Iterator[int]:
        try:
            for n in range(1000):
                sent.append(n)  # a call
                yield n
        finally:
            closed.set()

    stream = prefetched(pages(), 2)
    assert next(stream) == 0
    stream.close()  # the engine stops after its first page
    after_close = len(sent)
    time.sleep(0.3)

    assert closed.is_set()
    assert len(sent) == after_close <= 4  # the page taken, two ahead, one in flight


def test_depth_zero_runs_the_stream_in_the_callers_thread() -> None:
    def pages() -> Iterator[str]:
        yield threading.current_thread().name

    assert list(prefetched(pages(), 0)) == [threading.current_thread().name]
