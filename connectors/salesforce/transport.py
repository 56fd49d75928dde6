"""The requests session every Salesforce call goes through: time-outs, TLS trust, accounting.

Two things requests does not do for us:

* A default time-out. ``requests`` waits forever unless each call passes one, and
  simple-salesforce passes none, so the session fills it in.
* Honour a session-level CA bundle. With ``trust_env`` on (the default), requests replaces a
  ``verify`` of ``True``/``None`` by ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` from the environment
  *before* merging the session's own ``verify`` (``Session.merge_environment_settings``), so
  ``session.verify = path`` alone loses to the environment. The session therefore passes the
  configured bundle explicitly on every request, and refuses ``verify=False``.

A response hook counts every HTTP exchange by kind and hands ``Sforce-Limit-Info`` to the quota
guard, so the counts include simple-salesforce's own calls, logins and retries.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from kam_sync.errors import ConfigError

# Kinds of API call, as reported in QuotaStatus.calls_by_kind.
KIND_AUTH = "auth"
KIND_LIMITS = "limits"
KIND_DESCRIBE = "describe"
KIND_QUERY = "query"
KIND_WRITE = "write"
KIND_BULK = "bulk"
KIND_TOOLING = "tooling"
KIND_OTHER = "other"


def classify(method: str, url: str) -> str:
    """The kind of one request, from its path (used for accounting and the quota budget)."""
    path = urlsplit(url).path
    if "/services/oauth2/" in path or "/services/Soap/u/" in path:
        return KIND_AUTH
    if "/tooling/" in path:
        return KIND_TOOLING
    if "/jobs/" in path:
        return KIND_BULK
    if path.rstrip("/").endswith("/limits"):
        return KIND_LIMITS
    if path.rstrip("/").endswith("/describe"):
        return KIND_DESCRIBE
    if "/query" in path:  # query/, queryAll/ and their nextRecordsUrl pages
        return KIND_QUERY
    if "/composite/" in path or method.upper() in ("PATCH", "POST", "DELETE"):
        return KIND_WRITE
    return KIND_OTHER


class CallLedger:
    """Counts of HTTP exchanges by kind, and the last response seen (for Retry-After)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_kind: Counter[str] = Counter()
        self.last_response: requests.Response | None = None
        # Bulk API 2.0 jobs created (they also count against the org's daily bulk allocations).
        self.bulk_jobs = 0

    def record(self, response: requests.Response) -> None:
        kind = classify(response.request.method or "GET", response.url)
        with self._lock:
            self.by_kind[kind] += 1
            self.last_response = response

    def job_created(self) -> None:
        with self._lock:
            self.bulk_jobs += 1

    def report(self) -> dict[str, int]:
        """Calls by kind, plus ``bulk_jobs`` when any job was created."""
        with self._lock:
            counts = dict(sorted(self.by_kind.items()))
            if self.bulk_jobs:
                counts["bulk_jobs"] = self.bulk_jobs
            return counts

    def api_calls(self) -> int:
        """Calls that count against the org's daily API allocation (logins do not)."""
        with self._lock:
            return sum(n for kind, n in self.by_kind.items() if kind != KIND_AUTH)


class GuardedSession(requests.Session):
    """A session with a default time-out and a CA bundle that the environment cannot replace."""

    def __init__(self, *, timeout: float, ca_bundle: Path | None) -> None:
        super().__init__()
        if ca_bundle is not None and not ca_bundle.is_file():
            raise ConfigError(f"crm.salesforce.ca_bundle: no such file: {ca_bundle}")
        self.default_timeout = timeout
        self.ca_bundle = str(ca_bundle) if ca_bundle is not None else None

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        if kwargs.get("verify") is False:
            raise ConfigError("TLS verification cannot be turned off for Salesforce")
        if self.ca_bundle is not None:
            kwargs["verify"] = self.ca_bundle
        return super().request(method, url, *args, **kwargs)


def build_session(
    *,
    timeout: float,
    ca_bundle: Path | None,
    ledger: CallLedger,
    on_limit_info: Callable[[str], None],
) -> GuardedSession:
    """The one session of a connector, with accounting and quota hooks attached."""
    session = GuardedSession(timeout=timeout, ca_bundle=ca_bundle)

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        ledger.record(response)
        limit_info = response.headers.get("Sforce-Limit-Info")
        if limit_info:
            on_limit_info(limit_info)
        return response

    session.hooks["response"].append(hook)
    return session
