"""The exception tree of kam-sync, grouped by what the caller should do.

    KamSyncError                     root; never raised itself
    ├── ConfigError                  fix the YAML / project files            exit 2
    ├── AuthError                    fix credentials or the connected app    exit 1
    ├── ApiError                     an API call failed
    │   ├── RetriableApiError        try again (after Retry-After); tenacity retries these
    │   ├── QuotaExhaustedError      stop cleanly, resume next run           exit 4
    │   └── FatalApiError            do not retry; the request itself is wrong
    ├── RecordError                  one record is bad: quarantine or retry queue; the run goes on
    ├── StoreError                   the state store cannot be opened or migrated
    └── RunLockedError               another run on the same state store holds the lock   exit 5

A run asked to stop (SIGTERM, Ctrl-C) ends after its current batch, is recorded as interrupted
and exits 6 (``ExitCode.INTERRUPTED``).

Messages never contain secrets: credentials are passed around as opaque values and every
message is built from names and ids only.
"""

from __future__ import annotations

from enum import IntEnum

from kam_sync.issues import ConfigIssue


class ExitCode(IntEnum):
    """Process exit codes; documented in the README."""

    OK = 0
    FAILURE = 1
    CONFIG_ERROR = 2
    RECORD_ERRORS_OR_ALERTS = 3
    QUOTA_STOP = 4
    LOCKED = 5
    INTERRUPTED = 6
    # A command line argparse refuses (sysexits.h EX_USAGE), apart from 2, the config error.
    USAGE = 64


class KamSyncError(Exception):
    """Root of every error kam-sync raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILURE


class ConfigError(KamSyncError):
    """One or more problems in the project's configuration files.

    ``issues`` holds every problem found, not just the first, each with file, line and column.
    """

    exit_code = ExitCode.CONFIG_ERROR

    def __init__(self, issues: list[ConfigIssue] | str) -> None:
        if isinstance(issues, str):
            issues = [ConfigIssue(file=None, line=None, col=None, message=issues)]
        self.issues: list[ConfigIssue] = sorted(issues, key=ConfigIssue.sort_key)
        count = len(self.issues)
        head = f"{count} configuration error{'s' if count != 1 else ''}"
        super().__init__(head + ":\n" + "\n".join(str(i) for i in self.issues))


class AuthError(KamSyncError):
    """The CRM refused our credentials, or none were given."""


class ApiError(KamSyncError):
    """A CRM API call failed. ``status`` is the HTTP status when there was a response."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        connector: str | None = None,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.connector = connector
        prefix = f"{connector}: " if connector else ""
        super().__init__(prefix + message)


class RetriableApiError(ApiError):
    """A transient failure (connection, time-out, 5xx, 429); ``retry_after`` in seconds if known."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        error_code: str | None = None,
        connector: str | None = None,
    ) -> None:
        super().__init__(message, status=status, error_code=error_code, connector=connector)
        self.retry_after = retry_after


class QuotaExhaustedError(ApiError):
    """The API budget for this run or day is used up; the run stops cleanly and resumes later."""

    exit_code = ExitCode.QUOTA_STOP


class FatalApiError(ApiError):
    """A failure that retrying cannot fix (bad request, missing permission, unknown object)."""


class RecordError(KamSyncError):
    """A problem with one record; it is set aside with its reason and the run goes on."""

    def __init__(self, record_id: str | None, reason: str, *, field: str | None = None) -> None:
        self.record_id = record_id
        self.field = field
        self.reason = reason
        where = f"record {record_id}" if record_id else "record without id"
        if field:
            where += f", field {field}"
        super().__init__(f"{where}: {reason}")


class StoreError(KamSyncError):
    """The state store cannot be opened, migrated or written."""


class RunLockedError(KamSyncError):
    """Another run on the same state store holds the run lock."""

    exit_code = ExitCode.LOCKED
