"""Salesforce REST error bodies: a JSON list of `{"message", "errorCode"[, "fields"]}`."""

from __future__ import annotations

from kam_sync.sandbox.server import HttpError, Response, json_response


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    """One REST API error response."""
    entry: dict[str, object] = {"message": message, "errorCode": code}
    if fields is not None:
        entry["fields"] = fields
    return json_response(status, [entry])


def sf_fail(status: int, code: str, message: str, fields: list[str] | None = None) -> HttpError:
    """An `HttpError` to raise from a handler."""
    return HttpError(sf_error(status, code, message, fields))


NOT_FOUND_MESSAGE = "The requested resource does not exist"
