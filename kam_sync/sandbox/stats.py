"""Request accounting for the sandbox CRM, read by tests and benchmarks via `/__sandbox/stats`."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class SandboxStats:
    """Thread-safe counters: requests by endpoint kind and method, records, faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str]] = Counter()
        self._records_read: Counter[str] = Counter()
        self._records_written: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()

    def count_request(self, kind: str, method: str) -> None:
        """One request of `kind` arrived (counted before any fault is injected)."""
        with self._lock:
            self._requests[(kind, method.upper())] += 1

    def count_read(self, kind: str, records: int) -> None:
        """`records` records were returned to the client."""
        if records:
            with self._lock:
                self._records_read[kind] += records

    def count_written(self, kind: str, records: int) -> None:
        """`records` records were changed or created."""
        if records:
            with self._lock:
                self._records_written[kind] += records

    def count_fault(self, fault: str, n: int = 1) -> None:
        """A fault of this kind (`429`, `503`, `drop`, `session_expiry`, `lock`, ...) fired."""
        if n:
            with self._lock:
                self._faults[fault] += n

    def requests(self, kind: str | None = None, method: str | None = None) -> int:
        """How many requests matched the kind and/or method (None matches all)."""
        with self._lock:
            return sum(
                n
                for (k, m), n in self._requests.items()
                if (kind is None or k == kind) and (method is None or m == method.upper())
            )

    def snapshot(self) -> dict[str, Any]:
        """The JSON body of `GET /__sandbox/stats`."""
        with self._lock:
            by_kind: dict[str, dict[str, int]] = {}
            for (kind, method), n in sorted(self._requests.items()):
                by_kind.setdefault(kind, {})[method] = n
            return {
                "requests": by_kind,
                "requests_total": sum(self._requests.values()),
                "records_read": sum(self._records_read.values()),
                "records_written": sum(self._records_written.values()),
                "records_read_by_kind": dict(sorted(self._records_read.items())),
                "records_written_by_kind": dict(sorted(self._records_written.items())),
                "faults": dict(sorted(self._faults.items())),
                "faults_total": sum(self._faults.values()),
            }

    def reset(self) -> None:
        """Zero every counter (`POST /__sandbox/reset`)."""
        with self._lock:
            self._requests.clear()
            self._records_read.clear()
            self._records_written.clear()
            self._faults.clear()
