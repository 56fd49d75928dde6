"""Pages fetched ahead of the engine, so that waiting for the CRM overlaps storing what came.

A pull is a chain of calls, each waiting for the CRM (the network, the server, the rate limit);
between two calls the engine normalizes and stores the page it got. Run one after the other,
a run's wall time is the calls' time plus the engine's. ``prefetched`` runs the page stream in
a thread of its own, at most ``depth`` pages ahead of the consumer, so the next calls are under
way while the engine works: at the rate limit, the limiter then paces calls the engine no
longer holds back.

The stream stays where it was made: its generator runs, and is closed, in the fetching thread
only. Closing the prefetched iterator (the engine stops, or fails) stops the fetching after the
call in flight and waits for the thread, so no call of this pull is sent after it returns. An
exception in the stream comes out of the consumer's next page, after the pages before it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

Item = TypeVar("Item")

# How often a blocked producer or consumer looks again whether the other side has stopped.
_POLL_SECONDS = 0.1


class _End:
    """The stream is over; ``error`` is what ended it, if anything did."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def prefetched(items: Iterator[Item], depth: int, *, name: str = "prefetch") -> Iterator[Item]:
    """``items`` in order, produced in a thread up to ``depth`` ahead (0: in this thread)."""
    if depth <= 0:
        yield from items
        return
    buffer: queue.Queue[Item | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: Item | _End) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set() or not put(item):
                    return
            put(_End())
        except BaseException as exc:  # handed to the consumer, raised there
            put(_End(exc))
        finally:
            if isinstance(items, Generator):
                items.close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            try:
                entry = buffer.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if not thread.is_alive() and buffer.empty():
                    return  # the producer ended without a word (cannot happen; be safe)
                continue
            if isinstance(entry, _End):
                if entry.error is not None:
                    raise entry.error
                return
            yield entry
    finally:
        stop.set()  # a producer waiting for room sees it within _POLL_SECONDS
        thread.join()
