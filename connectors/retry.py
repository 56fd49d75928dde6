"""The one retry policy of every connector: what is retried, how long it waits, where it stops.

Only ``RetriableApiError`` is retried (each connector maps connection errors, time-outs, 5xx and
429 to it; everything else is raised at once). The wait before the next attempt is

* the server's ``Retry-After`` when it sent one, capped at ``max_wait_seconds`` (a server that
  asks for an hour does not get to park the run for an hour), or else
* an exponential back-off, ``initial_wait_seconds * 2 ** (attempt - 1)`` capped at
  ``max_wait_seconds``, with "equal jitter": a random point in its upper half, so that many
  clients failing together do not come back together.

It stops after ``max_attempts`` attempts, or before a wait that would take the waits of this call
past ``max_total_wait_seconds``; the last error is raised as it was. ``sleep`` and ``random`` are
passed in, so tests assert the waits without sleeping.
"""

from __future__ import annotations

import logging
import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from kam_sync.errors import RetriableApiError

log = logging.getLogger(__name__)
T = TypeVar("T")
Sleep = Callable[[float], None]


class RetrySettings(Protocol):
    """The settings a retry policy is built from (every connector's settings have them)."""

    @property
    def retry_max_attempts(self) -> int: ...
    @property
    def retry_initial_wait_seconds(self) -> float: ...
    @property
    def retry_max_wait_seconds(self) -> float: ...
    @property
    def retry_max_total_wait_seconds(self) -> float: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The bounds of the policy; see the module docstring."""

    max_attempts: int
    initial_wait_seconds: float
    max_wait_seconds: float
    max_total_wait_seconds: float

    @classmethod
    def from_settings(cls, settings: RetrySettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.retry_max_attempts,
            initial_wait_seconds=settings.retry_initial_wait_seconds,
            max_wait_seconds=settings.retry_max_wait_seconds,
            max_total_wait_seconds=settings.retry_max_total_wait_seconds,
        )

    def wait_before(
        self, attempt: int, error: BaseException | None, random: Callable[[], float]
    ) -> float:
        """The wait after failed attempt number ``attempt`` (1-based) with ``error``."""
        if isinstance(error, RetriableApiError) and error.retry_after is not None:
            return min(max(float(error.retry_after), 0.0), self.max_wait_seconds)
        backoff = min(self.initial_wait_seconds * 2.0 ** (attempt - 1), self.max_wait_seconds)
        return float(backoff * (0.5 + random() / 2))


class Retrier:
    """Runs calls under one ``RetryPolicy``; counts retries and keeps every wait it slept."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        connector: str,
        sleep: Sleep = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.policy = policy
        self.connector = connector
        self._sleep = sleep
        self._random = random
        self.waits: list[float] = []  # every back-off slept, for the run log and tests

    @property
    def retries(self) -> int:
        return len(self.waits)

    def run(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()``, retried on RetriableApiError under the policy."""
        policy = self.policy

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return policy.wait_before(state.attempt_number, error, self._random)

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= policy.max_attempts:
                return True
            return state.idle_for + state.upcoming_sleep > policy.max_total_wait_seconds

        def sleep(seconds: float) -> None:
            self.waits.append(seconds)
            log.warning(
                "%s %s: transient failure, retrying in %.1fs", self.connector, what, seconds
            )
            self._sleep(seconds)

        retrying = Retrying(
            retry=retry_if_exception_type(RetriableApiError),
            wait=wait,
            stop=stop,
            sleep=sleep,
            reraise=True,
        )
        return retrying(fn)
