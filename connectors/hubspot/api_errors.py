"""HubSpot/HTTP failures -> kam-sync's exception tree, in one table.

Every generated package of hubspot-api-client (``hubspot.crm.objects``, ``hubspot.crm.properties``,
``hubspot.crm.associations.v4``, ``hubspot.oauth``, ...) defines its *own* ``ApiException`` and
``OpenApiException``; they share no base class across packages, so the connector collects the
classes of every package it calls (``sdk_exception_classes``) and catches exactly those, plus
urllib3's errors (connection refused, reset, time-out), which the SDK lets through unwrapped.

    status 401                      AuthError (the caller refreshes an OAuth token once first)
    status 429, policy DAILY        QuotaExhaustedError
    status 429, other policies      RetriableApiError, retry_after = Retry-After or the window
    TLS handshake failed            FatalApiError KAM_TLS_FAILED, naming the host and ca_bundle
    status 0, 5xx, urllib3 errors   RetriableApiError
    anything else (400, 403, 404)   FatalApiError
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import urllib3.exceptions

from kam_sync.errors import (
    ApiError,
    AuthError,
    FatalApiError,
    KamSyncError,
    QuotaExhaustedError,
    RetriableApiError,
)
from kam_sync_connectors.transport_security import find_ssl_error, tls_failure

CONNECTOR = "hubspot"

# A 429 body names the policy that tripped, e.g. {"status": "error", "errorType": "RATE_LIMIT",
# "policyName": "TEN_SECONDLY_ROLLING", ...} (as quoted in HubSpot/hubspot-api-python#117;
# "SECONDLY" in HGData/mk-node-hubspot#89; "DAILY" per HubSpot's usage-details guide). The
# policy's window is the wait when no Retry-After header came with it.
POLICY_WINDOW_SECONDS = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0, "MINUTELY": 60.0}
DAILY_POLICY = "DAILY"


def sdk_exception_classes(api_objects: Iterable[object]) -> tuple[type[BaseException], ...]:
    """The ``OpenApiException`` class of every generated package these API objects come from.

    ``OpenApiException`` is the root of each package's ``ApiException`` (HTTP errors) and of
    its client-side ``ApiTypeError``/``ApiValueError``.
    """
    classes: list[type[BaseException]] = []
    for api in api_objects:
        module = type(api).__module__  # e.g. hubspot.crm.objects.api.basic_api
        package = module.rsplit(".api.", 1)[0]
        exc_module = importlib.import_module(package + ".exceptions")
        cls = exc_module.OpenApiException
        if cls not in classes:
            classes.append(cls)
    return tuple(classes)


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A response header, case-insensitively."""
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def decode_body(raw: bytes | str | None) -> dict[str, Any]:
    """A JSON error body as a dict; {} when there is none or it is not JSON."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def from_http(
    status: int,
    headers: Mapping[str, str] | None,
    body: Mapping[str, Any],
    *,
    what: str,
) -> ApiError | AuthError:
    """The kam-sync error for an HTTP error response. Messages carry no secret, only names."""
    category = str(body.get("category") or "") or None
    message = str(body.get("message") or "")[:300]
    text = f"{what} failed with HTTP {status}" + (f" ({category}: {message})" if message else "")
    if status == 401:
        return AuthError(f"{CONNECTOR}: {text}")
    if status == 429:
        policy = str(body.get("policyName") or "")
        if policy == DAILY_POLICY:
            return QuotaExhaustedError(
                text + "; the account's daily limit is used up",
                status=status,
                error_code=policy,
                connector=CONNECTOR,
            )
        retry_after = _float(header(headers, "Retry-After"))
        if retry_after is None:
            interval_ms = _float(header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds"))
            retry_after = (
                interval_ms / 1000.0
                if interval_ms
                else POLICY_WINDOW_SECONDS.get(
                    policy, POLICY_WINDOW_SECONDS["TEN_SECONDLY_ROLLING"]
                )
            )
        return RetriableApiError(
            text,
            retry_after=retry_after,
            status=status,
            error_code=policy or "RATE_LIMIT",
            connector=CONNECTOR,
        )
    if status == 0 or status >= 500:
        return RetriableApiError(
            text,
            retry_after=_float(header(headers, "Retry-After")),
            status=status,
            error_code=category,
            connector=CONNECTOR,
        )
    return FatalApiError(text, status=status, error_code=category, connector=CONNECTOR)


def from_exception(exc: BaseException, *, what: str, host: str | None = None) -> KamSyncError:
    """The kam-sync error for an exception raised by the SDK or urllib3 talking to ``host``."""
    if isinstance(exc, KamSyncError):
        return exc
    ssl_error = find_ssl_error(exc)
    sdk_ssl = getattr(exc, "status", None) == 0 and str(getattr(exc, "reason", "")).startswith(
        "SSLError"
    )
    if ssl_error is not None or sdk_ssl or isinstance(exc, urllib3.exceptions.SSLError):
        # A certificate problem does not fix itself; retrying would only hide it.
        return tls_failure(
            connector=CONNECTOR,
            what=what,
            host=host,
            setting="crm.hubspot.ca_bundle",
            error=ssl_error,
        )
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return RetriableApiError(
            f"{what} failed: {type(exc).__name__}", connector=CONNECTOR, error_code="NETWORK"
        )
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        headers = getattr(exc, "headers", None)
        return from_http(status, headers, decode_body(getattr(exc, "body", None)), what=what)
    # ApiTypeError / ApiValueError: the SDK refused the request before sending it.
    return FatalApiError(
        f"{what} was refused by the SDK: {type(exc).__name__}", connector=CONNECTOR
    )
