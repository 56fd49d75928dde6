"""The one path every HubSpot API call takes: budget, pacing, token, time-out, retries, errors.

Retries live here and nowhere else in this connector, under the connectors' one retry policy
(``kam_sync_connectors.retry``): ``RetriableApiError`` (connection errors, time-outs, 5xx, 429) is
retried for every method, POST and PATCH included, waiting what the 429 asked for
(``Retry-After``, or the tripped policy's window; capped) or a jittered exponential back-off
otherwise, within the attempt and total-wait bounds. A 401 on an OAuth token renews the token
once and sends the call again.
"""

from __future__ import annotations

import json
import random as _random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import urllib3.exceptions

from kam_sync.errors import AuthError, RetriableApiError
from kam_sync_connectors.hubspot.api_errors import CONNECTOR, from_exception
from kam_sync_connectors.hubspot.auth import TokenSource
from kam_sync_connectors.hubspot.budget import CallCounts, observe_daily_headers
from kam_sync_connectors.hubspot.limiter import RateLimiter
from kam_sync_connectors.quota import QuotaBudget
from kam_sync_connectors.retry import Retrier, RetryPolicy

Sleep = Callable[[float], None]


@dataclass(slots=True)
class ApiResponse:
    """A decoded 2xx response."""

    status: int
    headers: Mapping[str, str]
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Call:
    kind: str
    what: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    search: bool = False
    authenticated: bool = True


class ApiCaller:
    """Sends SDK calls the one way: see the module docstring."""

    def __init__(
        self,
        *,
        set_token: Callable[[str], None],
        tokens: TokenSource | None,
        limiter: RateLimiter,
        budget: QuotaBudget,
        counts: CallCounts,
        retry: RetryPolicy,
        timeout_seconds: float,
        sdk_errors: tuple[type[BaseException], ...],
        host: str | None = None,
        sleep: Sleep = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self._set_token = set_token
        self.tokens = tokens
        self.limiter = limiter
        self.budget = budget
        self.counts = counts
        self.retrier = Retrier(retry, connector=CONNECTOR, sleep=sleep, random=random)
        self.timeout_seconds = timeout_seconds
        self._sdk_errors = sdk_errors
        self._budget_lock = threading.Lock()
        self.host = host

    @property
    def retries(self) -> int:
        """Calls sent again after a transient failure, so far."""
        return self.retrier.retries

    def call(
        self,
        kind: str,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        search: bool = False,
        authenticated: bool = True,
        **kwargs: Any,
    ) -> ApiResponse:
        """Send ``fn(*args, **kwargs)`` (an SDK method) as one API call of ``kind``."""
        request = _Call(kind, what, fn, args, kwargs, search=search, authenticated=authenticated)
        return self.retrier.run(what, lambda: self._send_renewing_once(request))

    def _send_renewing_once(self, request: _Call) -> ApiResponse:
        try:
            return self._send(request)
        except AuthError:
            if not (request.authenticated and self.tokens is not None and self.tokens.renewable):
                raise
            self.tokens.renew()
            return self._send(request)

    def _send(self, request: _Call) -> ApiResponse:
        self.budget.check(request.what)  # a spent budget renews no token
        if request.authenticated and self.tokens is not None:
            self._set_token(self.tokens.access_token())
        with self._budget_lock:
            # Checked and counted as one step: calls sent from several threads at once (pages
            # fetched ahead, association reads, batch updates in flight) could otherwise all
            # pass the check before any is counted, and go past the stop line together.
            self.budget.check(request.what)
            self.counts.count(request.kind)
            self.budget.spent()
        self.limiter.acquire(search=request.search)
        catch: tuple[type[BaseException], ...] = (*self._sdk_errors, urllib3.exceptions.HTTPError)
        try:
            response = request.fn(
                *request.args,
                _preload_content=False,
                _request_timeout=self.timeout_seconds,
                **request.kwargs,
            )
            raw = response.data
            headers = response.headers
            status = int(response.status)
            response.release_conn()
        except catch as exc:
            headers = getattr(exc, "headers", None)
            self._observe(headers, request.search)
            error = from_exception(exc, what=request.what, host=self.host)
            if isinstance(error, RetriableApiError) and error.status == 429:
                self.limiter.pause(error.retry_after or 0.0, search=request.search)
            raise error from None
        self._observe(headers, request.search)
        body = json.loads(raw) if raw else {}
        return ApiResponse(
            status=status, headers=headers, body=body if isinstance(body, dict) else {}
        )

    def _observe(self, headers: Mapping[str, str] | None, search: bool) -> None:
        self.limiter.observe(headers, search=search)
        observe_daily_headers(self.budget, headers)
