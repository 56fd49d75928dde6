"""Reading a HubSpot request's input: the object type, JSON body, query parameters, ids."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kam_sync.sandbox.hubspot.errors import hubspot_error, validation_error
from kam_sync.sandbox.hubspot.properties import canonical_object_type
from kam_sync.sandbox.hubspot.store import HubSpotStore, ObjectTable
from kam_sync.sandbox.server import Request

MAX_BATCH_INPUTS = 100


def table_for(store: HubSpotStore, request: Request, key: str = "type") -> ObjectTable:
    """The object table a path parameter names; 400 for an object type we do not emulate."""
    object_type = canonical_object_type(request.params.get(key, ""))
    if object_type is None:
        raise hubspot_error(
            400,
            f"Unable to infer object type from: {request.params.get(key)}",
            "VALIDATION_ERROR",
        )
    return store.table(object_type)


def query_flag(request: Request, name: str) -> bool:
    """A `true`/`false` query parameter (absent is false)."""
    return (request.query_one(name) or "false").lower() == "true"


def batch_inputs(payload: object, limit: int = MAX_BATCH_INPUTS) -> list[Mapping[str, Any]]:
    """A batch body's `inputs`; 400 when missing or longer than `limit`."""
    inputs = payload.get("inputs") if isinstance(payload, Mapping) else None
    if not isinstance(inputs, list) or not all(isinstance(i, Mapping) for i in inputs):
        raise validation_error("The request body needs an inputs array of objects.")
    if len(inputs) > limit:
        raise validation_error(
            f"Too many inputs: {len(inputs)}; a batch holds at most {limit}.",
            context={"limit": [str(limit)]},
        )
    return inputs


def json_body(request: Request) -> Any:
    """The request's JSON body; a body that is not JSON gets HubSpot's 400."""
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise validation_error(f"Invalid input JSON on line 1: {exc}") from exc


def parse_id(raw: str) -> int | None:
    """A record id from a path or body (None when it is not a number, so never found)."""
    return int(raw) if raw.isdigit() else None


def query_int(request: Request, name: str, default: int | None) -> Any:
    """A whole-number query parameter; 400 when it is not one."""
    raw = request.query_one(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise validation_error(f"{name} must be a whole number, got {raw!r}.") from None


def query_list(request: Request, name: str) -> list[str] | None:
    """A list parameter, sent comma-separated or repeated (the SDK repeats it)."""
    values = request.query.get(name)
    if not values:
        return None
    names = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return names or None


def page_link(request: Request, cursor: str, limit: int) -> str:
    """`paging.next.link`: the same path with the next cursor."""
    host = request.header("Host") or "127.0.0.1"
    return f"http://{host}{request.path}?limit={limit}&after={cursor}"
