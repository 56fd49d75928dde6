"""Error bodies in HubSpot's format.

HubSpot's documented error shape (developers.hubspot.com/docs/api-reference/error-handling):
`status`, `message`, `correlationId`, `category`, optional `subCategory`, `errors` (each with
`message`, `code`, `in`, `context`), `context` and `links`. The SDK's `StandardError` model
(used inside 207 bodies) requires `status`, `category`, `message`, `errors`, `context` and
`links`, so per-record errors always carry all six.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from kam_sync.sandbox.server import HttpError, json_response


def correlation_id() -> str:
    """A fresh id, as HubSpot puts in every error body."""
    return str(uuid.uuid4())


def error_body(
    message: str,
    category: str,
    *,
    sub_category: str | None = None,
    context: Mapping[str, Sequence[str]] | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A top-level HubSpot error body."""
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    }
    if sub_category is not None:
        body["subCategory"] = sub_category
    if errors:
        body["errors"] = [dict(e) for e in errors]
    if context:
        body["context"] = {k: list(v) for k, v in context.items()}
    return body


def hubspot_error(
    status: int,
    message: str,
    category: str,
    *,
    sub_category: str | None = None,
    context: Mapping[str, Sequence[str]] | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpError:
    """An `HttpError` carrying a HubSpot error body; raise it from a handler."""
    body = error_body(message, category, sub_category=sub_category, context=context, errors=errors)
    return HttpError(json_response(status, body, headers))


def validation_error(message: str, **kwargs: Any) -> HttpError:
    """A 400 `VALIDATION_ERROR`, the category HubSpot uses for bad requests."""
    return hubspot_error(400, message, "VALIDATION_ERROR", **kwargs)


def record_error(
    message: str,
    category: str,
    *,
    context: Mapping[str, Sequence[str]],
    sub_category: str | None = None,
) -> dict[str, Any]:
    """One entry of a 207 body's `errors` array (the SDK's `StandardError`)."""
    entry: dict[str, Any] = {
        "status": "error",
        "category": category,
        "message": message,
        "context": {k: list(v) for k, v in context.items()},
        "links": {},
        "errors": [],
    }
    if sub_category is not None:
        entry["subCategory"] = sub_category
    return entry
