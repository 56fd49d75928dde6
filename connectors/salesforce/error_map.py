"""One table from Salesforce and transport failures to kam-sync's exception tree.

Salesforce REST errors have the body ``[{"message": "...", "errorCode": "..."}]`` (REST API
Developer Guide, "Status Codes and Error Responses"); simple-salesforce raises one exception class
per HTTP status and keeps that body in ``content`` but drops the response headers, so
``Retry-After`` is read from the last response the session saw.
"""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
)

from kam_sync.errors import (
    ApiError,
    AuthError,
    FatalApiError,
    KamSyncError,
    QuotaExhaustedError,
    RetriableApiError,
)
from kam_sync_connectors.transport_security import find_ssl_error, tls_failure

CONNECTOR = "salesforce"
RETRIABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Error codes that mean "the org's API allocation is used up" rather than "you lack access".
QUOTA_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS"})
TRANSIENT_CODES = frozenset({"SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"})
# REQUEST_LIMIT_EXCEEDED also names limits on requests in flight at once, not the daily
# allocation: "ConcurrentRequests (Concurrent API Requests) Limit exceeded." and
# "ConcurrentPerOrgLongTxn Limit exceeded." (long-running requests; Salesforce Developer Limits
# and Allocations Quick Reference, "API Request Limits and Allocations"). Those pass when the
# other requests finish: back off and try again. The daily one reads "TotalRequests Limit
# exceeded." and stops the run.
CONCURRENCY_LIMIT_MARKERS = ("ConcurrentRequests", "ConcurrentPerOrgLongTxn")


def is_concurrency_limit(code: str | None, message: str) -> bool:
    """True for a REQUEST_LIMIT_EXCEEDED about requests at once rather than the daily quota."""
    return code == "REQUEST_LIMIT_EXCEEDED" and any(
        marker in message for marker in CONCURRENCY_LIMIT_MARKERS
    )


class SessionExpired(ApiError):
    """401 INVALID_SESSION_ID: the caller renews the session once and tries again."""


def error_body(content: Any) -> tuple[str | None, str]:
    """``(errorCode, message)`` from a Salesforce error body in any of its shapes."""
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        code = first.get("errorCode") or first.get("statusCode")
        return (str(code) if code else None), str(first.get("message", ""))
    if isinstance(content, dict):
        code = content.get("errorCode") or content.get("error")
        message = content.get("message") or content.get("error_description") or ""
        return (str(code) if code else None), str(message)
    return None, str(content)[:500]


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Retry-After as seconds (delta or HTTP date), or None."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    date_header = response.headers.get("Date")
    now = parsedate_to_datetime(date_header) if date_header else None
    if now is None:
        return None
    return max((when - now).total_seconds(), 0.0)


def for_status(
    status: int,
    content: Any,
    *,
    what: str,
    response: requests.Response | None = None,
) -> KamSyncError:
    """The kam-sync error for an HTTP error status and its body."""
    code, message = error_body(content)
    text = (
        f"{what}: HTTP {status}"
        + (f" {code}" if code else "")
        + (f": {message}" if message else "")
    )
    if status == 401:
        if code == "INVALID_SESSION_ID" or code is None:
            return SessionExpired(text, status=status, error_code=code, connector=CONNECTOR)
        return AuthError(f"{CONNECTOR}: {text}")
    if is_concurrency_limit(code, message):
        return RetriableApiError(
            text,
            retry_after=retry_after_seconds(response),
            status=status,
            error_code=code,
            connector=CONNECTOR,
        )
    if code in QUOTA_CODES and status != 429:
        return QuotaExhaustedError(text, status=status, error_code=code, connector=CONNECTOR)
    if status in RETRIABLE_STATUSES or code in TRANSIENT_CODES:
        return RetriableApiError(
            text,
            retry_after=retry_after_seconds(response),
            status=status,
            error_code=code,
            connector=CONNECTOR,
        )
    return FatalApiError(text, status=status, error_code=code, connector=CONNECTOR)


def translate(
    exc: BaseException, *, what: str, last_response: requests.Response | None
) -> KamSyncError:
    """Map any exception from simple-salesforce or requests to kam-sync's tree."""
    if isinstance(exc, KamSyncError):
        return exc
    if isinstance(exc, SalesforceAuthenticationFailed):
        return AuthError(f"{CONNECTOR}: {what}: login refused ({exc.code})")
    if isinstance(exc, SalesforceExpiredSession):
        return for_status(401, exc.content, what=what)
    if isinstance(exc, SalesforceError):
        response = last_response if last_response is not None else None
        if response is not None and response.status_code != exc.status:
            response = None
        return for_status(exc.status, exc.content, what=what, response=response)
    if isinstance(exc, requests.exceptions.SSLError):
        # A certificate problem does not fix itself; retrying would only hide it.
        request = exc.request
        return tls_failure(
            connector=CONNECTOR,
            what=what,
            host=urlsplit(request.url).hostname if request is not None and request.url else None,
            setting="crm.salesforce.ca_bundle",
            error=find_ssl_error(exc),
        )
    if isinstance(
        exc,
        requests.exceptions.ConnectionError
        | requests.exceptions.Timeout
        | requests.exceptions.ChunkedEncodingError,
    ):
        return RetriableApiError(f"{what}: {type(exc).__name__}", connector=CONNECTOR)
    if isinstance(exc, json.JSONDecodeError):  # e.g. a body cut off mid-transfer
        return RetriableApiError(f"{what}: unreadable response ({exc})", connector=CONNECTOR)
    return FatalApiError(f"{what}: {type(exc).__name__}: {exc}", connector=CONNECTOR)
