"""The HubSpot CRM API as the sandbox server serves it (`HubSpotApp`).

Endpoints (the parts kam-sync uses), with the endpoint kind each counts under:

    POST  /oauth/v1/token                                   auth
    GET   /crm/v3/owners                                    query
    GET   /crm/v3/objects/{type}            list            query
    GET   /crm/v3/objects/{type}/{id}                       query
    PATCH /crm/v3/objects/{type}/{id}                       write
    DELETE /crm/v3/objects/{type}/{id}      archive         write
    POST  /crm/v3/objects/{type}/batch/read                 query
    POST  /crm/v3/objects/{type}/batch/update               write
    POST  /crm/v3/objects/{type}/search                     search
    GET   /crm/v3/properties/{type}[/{name}]                describe
    GET   /crm/v3/properties/{type}/groups[/{name}]         describe
    POST/PATCH the same                                     metadata
    POST  /crm/v4/associations/{from}/{to}/batch/read       associations
    GET   /crm/v4/objects/{from}/{id}/associations/{to}     associations

`{type}` is `companies` or `deals` (also `company`, `deal`, `0-2`, `0-3`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs

from kam_sync.sandbox.faults import FaultInjector
from kam_sync.sandbox.hubspot.associations import AssociationReader
from kam_sync.sandbox.hubspot.errors import (
    correlation_id,
    error_body,
    hubspot_error,
    record_error,
    validation_error,
)
from kam_sync.sandbox.hubspot.properties import (
    FIELD_TYPES_BY_TYPE,
    PROPERTY_NAME,
    InvalidValue,
    PropertyDefinition,
    PropertyGroup,
    PropertyOption,
    PropertyRegistry,
    canonical_object_type,
    iso_millis,
)
from kam_sync.sandbox.hubspot.ratelimit import RateDecision, RateLimiter
from kam_sync.sandbox.hubspot.search import SearchCache, page_properties, plan_search, run_search
from kam_sync.sandbox.hubspot.store import CrmRecord, HubSpotStore, ObjectTable, RecordNotFound
from kam_sync.sandbox.portfolio import Portfolio
from kam_sync.sandbox.server import (
    CrmApp,
    HttpError,
    Request,
    Response,
    Route,
    empty_response,
    json_response,
)
from kam_sync.sandbox.stats import SandboxStats

MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 10
MAX_BATCH_INPUTS = 100
# HubSpot changelog "Bug Fix: Batch Read Limit for HubSpot Associations API" (Feb 2025).
MAX_ASSOCIATION_BATCH_INPUTS = 1000
MAX_OWNERS_LIMIT = 500
OAUTH_TOKEN_SECONDS = 1800
# Properties a response carries when the request names none (HubSpot's defaults).
DEFAULT_PROPERTIES = {
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
}
SINGULAR = {"companies": "COMPANY", "deals": "DEAL"}

_OBJ = r"/crm/v3/objects/(?P<type>[^/]+)"
_PROPS = r"/crm/v3/properties/(?P<type>[^/]+)"


class HubSpotApp(CrmApp):
    """One sandbox HubSpot portal: its data, properties, tokens and rate limits."""

    crm = "hubspot"

    def __init__(
        self,
        portfolio: Portfolio,
        *,
        rate_limit_tier: int = 190,
        faults: FaultInjector | None = None,
        stats: SandboxStats | None = None,
        seed: int = 1,
        search_per_second: int = 5,
        daily_limit: int | None = None,
        invalid_values: Literal["per_record", "whole_batch"] = "per_record",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.invalid_values = invalid_values
        self.store = HubSpotStore(portfolio, clock=clock)
        self.faults = faults or FaultInjector()
        self.stats = stats or SandboxStats()
        self.limiter = RateLimiter(
            rate_limit_tier, daily_limit=daily_limit, search_per_second=search_per_second
        )
        self._quota_spec: object = None
        self._apply_quota()
        self.associations = AssociationReader(self.store)
        self.search_cache = SearchCache()
        # Derived from the seed so that a restarted sandbox (`--data FILE`) accepts the same
        # credentials, as the Salesforce side does.
        digest = hashlib.sha256(f"kam-sync-sandbox-hubspot:{seed}".encode()).hexdigest()
        self.access_token = f"pat-na1-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:28]}"
        self.client_id = f"{digest[28:36]}-{digest[36:40]}-sandbox"
        self.client_secret = digest[40:64]
        self.refresh_token = f"na1-{digest[:4]}-{digest[44:64]}"
        self._oauth_tokens: dict[str, datetime] = {}
        self._tokens_lock = threading.Lock()
        self._rate_headers = threading.local()
        self.routes = self._route_table()

    # -- wiring ----------------------------------------------------------------------------

    def bind(self, *, stats: SandboxStats, faults: FaultInjector) -> None:
        """Share the server's counters and fault injector (record-level faults, accounting)."""
        self.stats = stats
        self.faults = faults
        self._apply_quota()

    def set_remaining_quota(self, remaining: int) -> None:
        """Pretend the day's API allocation is used up but `remaining` requests."""
        self.limiter.set_daily_remaining(remaining)

    def credentials(self) -> dict[str, str]:
        """What a client needs: the private-app token, and an OAuth app's refresh grant."""
        return {
            "access_token": self.access_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }

    def _route_table(self) -> list[Route]:
        return [
            Route.of("POST", r"/oauth/v1/token", self.oauth_token),
            Route.of("GET", r"/crm/v3/owners/?", self.list_owners),
            Route.of("POST", _OBJ + r"/batch/read", self.batch_read),
            Route.of("POST", _OBJ + r"/batch/update", self.batch_update),
            Route.of("POST", _OBJ + r"/search", self.search),
            Route.of("GET", _OBJ + r"/?", self.list_objects),
            Route.of("GET", _OBJ + r"/(?P<id>[^/]+)", self.get_object),
            Route.of("PATCH", _OBJ + r"/(?P<id>[^/]+)", self.patch_object),
            Route.of("DELETE", _OBJ + r"/(?P<id>[^/]+)", self.archive_object),
            Route.of("GET", _PROPS + r"/groups/?", self.list_groups),
            Route.of("POST", _PROPS + r"/groups/?", self.create_group),
            Route.of("GET", _PROPS + r"/groups/(?P<name>[^/]+)", self.get_group),
            Route.of("PATCH", _PROPS + r"/groups/(?P<name>[^/]+)", self.update_group),
            Route.of("GET", _PROPS + r"/?", self.list_properties),
            Route.of("POST", _PROPS + r"/?", self.create_property),
            Route.of("GET", _PROPS + r"/(?P<name>[^/]+)", self.get_property),
            Route.of("PATCH", _PROPS + r"/(?P<name>[^/]+)", self.update_property),
            Route.of(
                "POST",
                r"/crm/v4/associations/(?P<from>[^/]+)/(?P<to>[^/]+)/batch/read",
                self.associations_batch_read,
            ),
            Route.of(
                "GET",
                r"/crm/v4/objects/(?P<from>[^/]+)/(?P<id>[^/]+)/associations/(?P<to>[^/]+)",
                self.associations_list,
            ),
        ]

    def endpoint_kind(self, method: str, path: str) -> str:
        if path.startswith("/oauth/"):
            return "auth"
        if path.startswith("/crm/v4/"):
            return "associations"
        if path.startswith("/crm/v3/properties/"):
            return "describe" if method == "GET" else "metadata"
        if path.startswith("/crm/v3/objects/"):
            if path.endswith("/search"):
                return "search"
            if path.endswith("/batch/read") or method == "GET":
                return "query"
            return "write"
        if path.startswith("/crm/v3/owners"):
            return "query"
        return "other"

    # -- hooks of the shared server ----------------------------------------------------------

    def before_route(self, request: Request) -> Response | None:
        self._rate_headers.value = {}
        if request.path.startswith("/oauth/"):
            return None
        refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        self._apply_quota()
        decision = self.limiter.admit(search=request.kind == "search")
        self._rate_headers.value = decision.headers
        if not decision.allowed:
            self.stats.count_fault(f"rate_limit_{(decision.policy_name or '').lower()}")
            return json_response(429, decision.body(), decision.headers)
        return None

    def finish_response(self, request: Request, response: Response) -> None:
        headers: dict[str, str] = getattr(self._rate_headers, "value", {}) or {}
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        self._rate_headers.value = {}

    def fault_response(
        self, request: Request, status: int, retry_after_s: float | None
    ) -> Response:
        headers = (
            {} if retry_after_s is None else {"Retry-After": str(max(0, math.ceil(retry_after_s)))}
        )
        if status == 429:
            # An injected 429 looks like the ten-second window's own.
            body = RateDecision(False, "TEN_SECONDLY_ROLLING").body()
        else:
            body = error_body("Service Unavailable", "SERVICE_UNAVAILABLE")
        return json_response(status, body, headers)

    def not_found(self, request: Request) -> Response:
        return json_response(404, error_body("Resource not found.", "OBJECT_NOT_FOUND"))

    def method_not_allowed(self, request: Request) -> Response:
        return json_response(
            405, error_body(f"Method {request.method} is not allowed here.", "VALIDATION_ERROR")
        )

    def internal_error(self, request: Request, exc: BaseException) -> Response:
        message = f"internal error: {type(exc).__name__}: {exc}"
        return json_response(500, error_body(message, "INTERNAL_ERROR"))

    def expire_sessions(self) -> None:
        # Private-app tokens never expire; tokens from the OAuth refresh grant do.
        # They stay known, so a client hears "expired" rather than "unknown token".
        expired = self.store.clock() - timedelta(seconds=1)
        with self._tokens_lock:
            for token in self._oauth_tokens:
                self._oauth_tokens[token] = expired

    def _apply_quota(self) -> None:
        spec = self.faults.spec
        if spec is self._quota_spec:
            return
        self._quota_spec = spec
        if spec.daily_quota_remaining is not None:
            self.limiter.set_daily_remaining(spec.daily_quota_remaining)

    # -- auth ------------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> Response | None:
        header = request.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token:
            if secrets.compare_digest(token, self.access_token):
                return None
            with self._tokens_lock:
                expires = self._oauth_tokens.get(token)
            if expires is not None and expires > self.store.clock():
                return None
            if expires is not None:
                return json_response(
                    401,
                    error_body(
                        "The OAuth token used to make this call expired.",
                        "EXPIRED_AUTHENTICATION",
                    ),
                )
        return json_response(
            401,
            error_body(
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            ),
        )

    def oauth_token(self, request: Request) -> Response:
        """The refresh-token grant of HubSpot's OAuth 2.0 token endpoint."""
        form = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        if form.get("grant_type") != "refresh_token":
            return json_response(400, _oauth_error("BAD_GRANT_TYPE", "unsupported grant_type"))
        if form.get("client_id") != self.client_id or not secrets.compare_digest(
            form.get("client_secret", ""), self.client_secret
        ):
            return json_response(400, _oauth_error("BAD_CLIENT_ID", "missing or unknown client"))
        if not secrets.compare_digest(form.get("refresh_token", ""), self.refresh_token):
            return json_response(
                400, _oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
            )
        token = f"sandbox-oauth-{secrets.token_hex(16)}"
        expires = self.store.clock().timestamp() + OAUTH_TOKEN_SECONDS
        with self._tokens_lock:
            self._oauth_tokens[token] = datetime.fromtimestamp(expires, UTC)
        return json_response(
            200,
            {
                "token_type": "bearer",
                "refresh_token": self.refresh_token,
                "access_token": token,
                "expires_in": OAUTH_TOKEN_SECONDS,
            },
        )

    # -- objects ---------------------------------------------------------------------------

    def _table(self, request: Request, key: str = "type") -> ObjectTable:
        object_type = canonical_object_type(request.params.get(key, ""))
        if object_type is None:
            raise hubspot_error(
                400,
                f"Unable to infer object type from: {request.params.get(key)}",
                "VALIDATION_ERROR",
            )
        return self.store.table(object_type)

    def list_objects(self, request: Request) -> Response:
        table = self._table(request)
        limit = _query_int(request, "limit", DEFAULT_LIST_LIMIT)
        if limit < 1 or limit > MAX_LIST_LIMIT:
            raise validation_error(f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}.")
        # The cursor is the id to resume at (the last id sent plus one), as HubSpot's is.
        after = _query_int(request, "after", None)
        archived = (request.query_one("archived") or "false").lower() == "true"
        names = page_properties(
            _query_list(request, "properties"), DEFAULT_PROPERTIES[table.object_type]
        )
        wanted_associations = _query_list(request, "associations")
        results: list[dict[str, Any]] = []
        last: CrmRecord | None = None
        more = False
        with self.store.lock:
            start = None if after is None else after - 1
            for record in table.iter_from(start, archived=archived):
                if len(results) == limit:
                    more = True
                    break
                results.append(self._record_json(table, record, names, wanted_associations))
                last = record
        body: dict[str, Any] = {"results": results}
        if more and last is not None:
            cursor = str(last.id + 1)
            body["paging"] = {"next": {"after": cursor, "link": _link(request, cursor, limit)}}
        self.stats.count_read(request.kind, len(results))
        return json_response(200, body)

    def get_object(self, request: Request) -> Response:
        table = self._table(request)
        archived = (request.query_one("archived") or "false").lower() == "true"
        record = self._find(table, request.params["id"], archived=archived)
        names = page_properties(
            _query_list(request, "properties"), DEFAULT_PROPERTIES[table.object_type]
        )
        body = self._record_json(table, record, names, _query_list(request, "associations"))
        self.stats.count_read(request.kind, 1)
        return json_response(200, body)

    def patch_object(self, request: Request) -> Response:
        table = self._table(request)
        payload = _json_body(request)
        properties = payload.get("properties") if isinstance(payload, Mapping) else None
        if not isinstance(properties, Mapping):
            raise validation_error("The request body needs a properties object.")
        with self.store.lock:
            record = self._find(table, request.params["id"], archived=False)
            checked, invalid = self._check_values(table.registry, properties)
            if invalid:
                raise validation_error(_invalid_message(invalid))
            fault = self.faults.record_fault(request.kind, str(record.id))
            if fault is not None:
                self.stats.count_fault(fault)
                entry = _record_fault_error(fault, {"ids": [str(record.id)]})
                status = 409 if fault == "lock" else 500
                raise hubspot_error(status, entry["message"], entry["category"])
            self.store.write(table, record, checked)
            names = [*checked, "hs_lastmodifieddate", "hs_object_id", "createdate"]
            body = self._record_json(table, record, names, None)
        self.stats.count_written(request.kind, 1)
        return json_response(200, body)

    def archive_object(self, request: Request) -> Response:
        table = self._table(request)
        record_id = _parse_id(request.params["id"])
        if record_id is not None:
            # HubSpot answers 204 for an id that is already gone.
            with contextlib.suppress(RecordNotFound):
                self.store.archive(table.object_type, record_id)
        self.stats.count_written(request.kind, 1)
        return empty_response(204)

    def batch_read(self, request: Request) -> Response:
        table = self._table(request)
        payload = _json_body(request)
        inputs = _inputs(payload)
        archived = (request.query_one("archived") or "false").lower() == "true"
        names = page_properties(
            payload.get("properties") if isinstance(payload, Mapping) else None,
            DEFAULT_PROPERTIES[table.object_type],
        )
        id_property = payload.get("idProperty") if isinstance(payload, Mapping) else None
        started = iso_millis(self.store.clock())
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        with self.store.lock:
            for item in inputs:
                raw_id = str(item.get("id", ""))
                record = self._lookup(table, raw_id, id_property, archived=archived)
                if record is None:
                    missing.append(raw_id)
                else:
                    results.append(self._record_json(table, record, names, None))
        self.stats.count_read(request.kind, len(results))
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso_millis(self.store.clock()),
        }
        if not missing:
            return json_response(200, body)
        body["numErrors"] = 1
        body["errors"] = [
            record_error(
                f"Could not get some {SINGULAR[table.object_type]} objects, they may be "
                "deleted or not exist. Check that ids are valid.",
                "OBJECT_NOT_FOUND",
                context={"ids": missing},
            )
        ]
        return json_response(207, body)

    def batch_update(self, request: Request) -> Response:
        """Update up to 100 records; per-record failures come back in a 207 `errors` array.

        Failures are matched by `objectWriteTraceId` when the input carries one, and always
        by `ids` in the error's context. An invalid property value fails only its record
        (`invalid_values="per_record"`, as issue 3 specifies HubSpot's documented 207);
        reports from the field show HubSpot refusing the whole batch with one 400 instead
        (e.g. github.com/Atlas-Authority/marketing-automation/issues/174), which
        `invalid_values="whole_batch"` emulates. Guessed: results list the written
        properties plus `hs_lastmodifieddate`, `hs_object_id` and `createdate`.
        """
        table = self._table(request)
        inputs = _inputs(_json_body(request))
        ids = [str(item.get("id", "")) for item in inputs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise validation_error(f"Duplicate IDs found in batch input: {duplicates}")
        if self.invalid_values == "whole_batch":
            self._refuse_batch_with_invalid_values(table.registry, inputs)
        started = iso_millis(self.store.clock())
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.store.lock:
            for item in inputs:
                raw_id = str(item.get("id", ""))
                trace = item.get("objectWriteTraceId")
                context: dict[str, list[str]] = {"ids": [raw_id]}
                if trace is not None:
                    context["objectWriteTraceId"] = [str(trace)]
                properties = item.get("properties")
                if not isinstance(properties, Mapping):
                    errors.append(
                        record_error(
                            "Each input needs a properties object.",
                            "VALIDATION_ERROR",
                            context=context,
                        )
                    )
                    continue
                record = self._lookup(table, raw_id, item.get("idProperty"), archived=False)
                if record is None:
                    errors.append(
                        record_error(
                            f"Could not update some {SINGULAR[table.object_type]} objects, they "
                            "may be deleted or not exist. Check that ids are valid.",
                            "OBJECT_NOT_FOUND",
                            context=context,
                        )
                    )
                    continue
                checked, invalid = self._check_values(table.registry, properties)
                if invalid:
                    errors.append(
                        record_error(_invalid_message(invalid), "VALIDATION_ERROR", context=context)
                    )
                    continue
                fault = self.faults.record_fault(request.kind, str(record.id))
                if fault is not None:
                    self.stats.count_fault(fault)
                    errors.append(_record_fault_error(fault, context))
                    continue
                self.store.write(table, record, checked)
                names = [*checked, "hs_lastmodifieddate", "hs_object_id", "createdate"]
                result = self._record_json(table, record, names, None)
                if trace is not None:
                    result["objectWriteTraceId"] = str(trace)
                results.append(result)
        self.stats.count_written(request.kind, len(results))
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso_millis(self.store.clock()),
        }
        if not errors:
            return json_response(200, body)
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return json_response(207, body)

    def search(self, request: Request) -> Response:
        table = self._table(request)
        plan = plan_search(table, _json_body(request))
        with self.store.lock:
            total, page, next_after = run_search(
                table, plan, cache=self.search_cache, version=self.store.version
            )
            names = page_properties(plan.properties, DEFAULT_PROPERTIES[table.object_type])
            results = [self._record_json(table, r, names, None) for r in page]
        body: dict[str, Any] = {"total": total, "results": results}
        if next_after is not None:
            body["paging"] = {"next": {"after": str(next_after)}}
        self.stats.count_read(request.kind, len(results))
        return json_response(200, body)

    def list_owners(self, request: Request) -> Response:
        limit = _query_int(request, "limit", 100)
        if limit < 1 or limit > MAX_OWNERS_LIMIT:
            raise validation_error(f"limit must be between 1 and {MAX_OWNERS_LIMIT}, got {limit}.")
        after = _query_int(request, "after", None)
        email = request.query_one("email")
        if (request.query_one("archived") or "false").lower() == "true":
            owners = []
        else:
            owners = [
                o
                for o in self.store.owners
                if (after is None or o.id > after) and (email is None or o.email == email)
            ]
        page = owners[:limit]
        body: dict[str, Any] = {"results": [o.to_json() for o in page]}
        if len(owners) > limit:
            cursor = str(page[-1].id)
            body["paging"] = {"next": {"after": cursor, "link": _link(request, cursor, limit)}}
        self.stats.count_read(request.kind, len(page))
        return json_response(200, body)

    # -- properties ------------------------------------------------------------------------

    def list_properties(self, request: Request) -> Response:
        registry = self._table(request).registry
        archived = (request.query_one("archived") or "false").lower() == "true"
        return json_response(
            200, {"results": [p.to_json() for p in registry.properties(archived=archived)]}
        )

    def get_property(self, request: Request) -> Response:
        registry = self._table(request).registry
        definition = registry.get(request.params["name"])
        if definition is None or definition.archived:
            raise _property_missing(registry, request.params["name"])
        return json_response(200, definition.to_json())

    def create_property(self, request: Request) -> Response:
        """Create a custom property after HubSpot's type, field type, group and option checks."""
        registry = self._table(request).registry
        payload = _json_body(request)
        if not isinstance(payload, Mapping):
            raise validation_error("The request body must be a property object.")
        for required in ("name", "label", "type", "fieldType", "groupName"):
            if not payload.get(required):
                raise validation_error(f"Missing required field {required!r} for a property.")
        name = str(payload["name"])
        if not PROPERTY_NAME.match(name):
            raise validation_error(
                f"Property name {name!r} must start with a lowercase letter and hold only "
                "lowercase letters, digits and underscores."
            )
        type_, field_type = str(payload["type"]), str(payload["fieldType"])
        _check_types(type_, field_type)
        group = str(payload["groupName"])
        if registry.group(group) is None:
            raise validation_error(f"Property group {group!r} does not exist.")
        options = _parse_options(type_, payload.get("options"))
        with self.store.lock:
            existing = registry.get(name)
            if existing is not None and not existing.archived:
                raise hubspot_error(
                    409,
                    f"Property named '{name}' already exists.",
                    "OBJECT_ALREADY_EXISTS",
                    sub_category="Properties.PROPERTY_EXISTS",
                    context={"name": [name]},
                )
            now = self.store.clock()
            definition = PropertyDefinition(
                name=name,
                label=str(payload["label"]),
                type=type_,
                field_type=field_type,
                group_name=group,
                options=options,
                description=str(payload.get("description") or ""),
                display_order=int(payload.get("displayOrder", -1)),
                hidden=bool(payload.get("hidden", False)),
                form_field=bool(payload.get("formField", False)),
                created_at=now,
                updated_at=now,
            )
            registry.add(definition)
        return json_response(201, definition.to_json())

    def update_property(self, request: Request) -> Response:
        registry = self._table(request).registry
        name = request.params["name"]
        payload = _json_body(request)
        if not isinstance(payload, Mapping):
            raise validation_error("The request body must be a property object.")
        with self.store.lock:
            definition = registry.get(name)
            if definition is None or definition.archived:
                raise _property_missing(registry, name)
            if definition.hubspot_defined:
                raise validation_error(f"The HubSpot-defined property {name!r} cannot be changed.")
            type_ = str(payload.get("type", definition.type))
            field_type = str(payload.get("fieldType", definition.field_type))
            _check_types(type_, field_type)
            group = str(payload.get("groupName", definition.group_name))
            if registry.group(group) is None:
                raise validation_error(f"Property group {group!r} does not exist.")
            if "options" in payload or type_ != definition.type:
                raw_options = payload.get("options", [o.to_json() for o in definition.options])
                definition.set_options(_parse_options(type_, raw_options))
            definition.type, definition.field_type, definition.group_name = type_, field_type, group
            definition.label = str(payload.get("label", definition.label))
            definition.description = str(payload.get("description", definition.description))
            definition.display_order = int(payload.get("displayOrder", definition.display_order))
            definition.hidden = bool(payload.get("hidden", definition.hidden))
            definition.updated_at = self.store.clock()
        return json_response(200, definition.to_json())

    def list_groups(self, request: Request) -> Response:
        registry = self._table(request).registry
        return json_response(200, {"results": [g.to_json() for g in registry.groups()]})

    def get_group(self, request: Request) -> Response:
        registry = self._table(request).registry
        group = registry.group(request.params["name"])
        if group is None or group.archived:
            raise hubspot_error(
                404,
                f"Property group {request.params['name']!r} does not exist.",
                "OBJECT_NOT_FOUND",
            )
        return json_response(200, group.to_json())

    def create_group(self, request: Request) -> Response:
        registry = self._table(request).registry
        payload = _json_body(request)
        if not isinstance(payload, Mapping) or not payload.get("name") or not payload.get("label"):
            raise validation_error("A property group needs a name and a label.")
        name = str(payload["name"])
        if not PROPERTY_NAME.match(name):
            raise validation_error(
                f"Group name {name!r} must start with a lowercase letter and hold only "
                "lowercase letters, digits and underscores."
            )
        with self.store.lock:
            existing = registry.group(name)
            if existing is not None and not existing.archived:
                raise hubspot_error(
                    409,
                    f"A property group named '{name}' already exists.",
                    "OBJECT_ALREADY_EXISTS",
                    context={"name": [name]},
                )
            group = PropertyGroup(name, str(payload["label"]), int(payload.get("displayOrder", -1)))
            registry.add_group(group)
        return json_response(201, group.to_json())

    def update_group(self, request: Request) -> Response:
        registry = self._table(request).registry
        payload = _json_body(request)
        with self.store.lock:
            group = registry.group(request.params["name"])
            if group is None or group.archived:
                raise hubspot_error(
                    404,
                    f"Property group {request.params['name']!r} does not exist.",
                    "OBJECT_NOT_FOUND",
                )
            if isinstance(payload, Mapping):
                group.label = str(payload.get("label", group.label))
                group.display_order = int(payload.get("displayOrder", group.display_order))
        return json_response(200, group.to_json())

    # -- associations ----------------------------------------------------------------------

    def associations_batch_read(self, request: Request) -> Response:
        from_table = self._table(request, "from")
        to_table = self._table(request, "to")
        inputs = _inputs(_json_body(request), MAX_ASSOCIATION_BATCH_INPUTS)
        started = iso_millis(self.store.clock())
        with self.store.lock:
            results, errors = self.associations.batch_read(
                from_table.object_type, to_table.object_type, [str(i.get("id", "")) for i in inputs]
            )
        self.stats.count_read(request.kind, sum(len(r["to"]) for r in results))
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso_millis(self.store.clock()),
        }
        if not errors:
            return json_response(200, body)
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return json_response(207, body)

    def associations_list(self, request: Request) -> Response:
        from_table = self._table(request, "from")
        to_table = self._table(request, "to")
        record = self._find(from_table, request.params["id"], archived=False)
        with self.store.lock:
            targets = self.associations.targets(
                from_table.object_type, to_table.object_type, record.id
            )
        self.stats.count_read(request.kind, len(targets))
        return json_response(200, {"results": targets})

    # -- helpers ---------------------------------------------------------------------------

    def _record_json(
        self,
        table: ObjectTable,
        record: CrmRecord,
        names: list[str],
        associations: list[str] | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(record.id),
            "properties": self.store.properties_of(table, record, names),
            "createdAt": iso_millis(record.created_at),
            "updatedAt": iso_millis(record.updated_at),
            "archived": record.archived_at is not None,
        }
        if record.archived_at is not None:
            body["archivedAt"] = iso_millis(record.archived_at)
        if associations:
            found = {}
            for raw in associations:
                target = canonical_object_type(raw)
                if target is None:
                    continue  # documented: unknown association types are ignored
                ids = self.associations.v3_ids(table.object_type, target, record.id)
                if ids:
                    found[target] = {"results": ids}
            if found:
                body["associations"] = found
        return body

    def _find(self, table: ObjectTable, raw_id: str, *, archived: bool) -> CrmRecord:
        record_id = _parse_id(raw_id)
        record = table.records.get(record_id) if record_id is not None else None
        if record is None or (record.archived_at is not None) != archived:
            raise hubspot_error(
                404,
                "Object not found.  objectId are usually numeric.",
                "OBJECT_NOT_FOUND",
                context={"id": [raw_id]},
            )
        return record

    def _lookup(
        self, table: ObjectTable, raw_id: str, id_property: object, *, archived: bool
    ) -> CrmRecord | None:
        if id_property and id_property != "hs_object_id":
            name = str(id_property)
            for candidate in table.iter_from(None, archived=archived):
                if table.value(candidate, name) == raw_id:
                    return candidate
            return None
        record_id = _parse_id(raw_id)
        record = table.records.get(record_id) if record_id is not None else None
        if record is None or (record.archived_at is not None) != archived:
            return None
        return record

    def _refuse_batch_with_invalid_values(
        self, registry: PropertyRegistry, inputs: list[Mapping[str, Any]]
    ) -> None:
        invalid: list[InvalidValue] = []
        for item in inputs:
            properties = item.get("properties")
            if isinstance(properties, Mapping):
                invalid.extend(self._check_values(registry, properties)[1])
        if invalid:
            raise validation_error(_invalid_message(invalid))

    @staticmethod
    def _check_values(
        registry: PropertyRegistry, properties: Mapping[str, object]
    ) -> tuple[dict[str, str | None], list[InvalidValue]]:
        checked: dict[str, str | None] = {}
        invalid: list[InvalidValue] = []
        for name, raw in properties.items():
            result = registry.normalize(str(name), raw)
            if isinstance(result, InvalidValue):
                invalid.append(result)
            else:
                checked[str(name)] = result
        return checked, invalid

    # -- persistence -----------------------------------------------------------------------

    def dump_state(self) -> dict[str, Any]:
        """Everything that changed since the seed, JSON-ready (`--data FILE`)."""
        custom: dict[str, Any] = {}
        for table in (self.store.companies, self.store.deals):
            custom[table.object_type] = {
                "groups": [g.to_json() for g in table.registry.groups()],
                "properties": [
                    p.to_json() for p in table.registry.properties() if not p.hubspot_defined
                ],
            }
        return {"crm": "hubspot", "schema": custom, "data": self.store.changes()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Replay `dump_state()` output on an app seeded with the same portfolio."""
        for object_type, schema in state.get("schema", {}).items():
            registry = self.store.table(object_type).registry
            for group in schema.get("groups", []):
                registry.add_group(
                    PropertyGroup(group["name"], group["label"], int(group.get("displayOrder", -1)))
                )
            for prop in schema.get("properties", []):
                registry.add(
                    PropertyDefinition(
                        name=prop["name"],
                        label=prop["label"],
                        type=prop["type"],
                        field_type=prop["fieldType"],
                        group_name=prop["groupName"],
                        options=_parse_options(prop["type"], prop.get("options") or []),
                        description=prop.get("description", ""),
                        display_order=int(prop.get("displayOrder", -1)),
                    )
                )
        self.store.apply_changes(state.get("data", {}))


def _check_types(type_: str, field_type: str) -> None:
    allowed = FIELD_TYPES_BY_TYPE.get(type_)
    if allowed is None:
        raise validation_error(
            f"Invalid property type {type_!r}; allowed: {', '.join(sorted(FIELD_TYPES_BY_TYPE))}."
        )
    if field_type not in allowed:
        raise validation_error(
            f"fieldType {field_type!r} is not valid for type {type_!r}; "
            f"allowed: {', '.join(sorted(allowed))}."
        )


def _parse_options(type_: str, raw: object) -> list[PropertyOption]:
    if type_ == "bool":
        return [PropertyOption("Yes", "true", 0), PropertyOption("No", "false", 1)]
    if type_ != "enumeration":
        return []
    if not isinstance(raw, list) or not raw:
        raise validation_error("An enumeration property needs at least one option.")
    options: list[PropertyOption] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping) or "value" not in item or "label" not in item:
            raise validation_error("Each option needs a label and a value.")
        value = str(item["value"])
        if value in seen:
            raise validation_error(f"Duplicate option value {value!r}.")
        seen.add(value)
        options.append(
            PropertyOption(
                label=str(item["label"]),
                value=value,
                display_order=int(item.get("displayOrder", index)),
                hidden=bool(item.get("hidden", False)),
                description=str(item.get("description") or ""),
            )
        )
    return options


def _property_missing(registry: PropertyRegistry, name: str) -> HttpError:
    return hubspot_error(
        404,
        f"Unable to find property named '{name}' for object type {registry.object_type}.",
        "OBJECT_NOT_FOUND",
        context={"name": [name]},
    )


def _invalid_message(invalid: list[InvalidValue]) -> str:
    # HubSpot embeds the list of failed checks as JSON in the message text.
    return "Property values were not valid: " + json.dumps([i.to_json() for i in invalid])


def _record_fault_error(fault: str, context: dict[str, list[str]]) -> dict[str, Any]:
    # Guessed: how HubSpot reports a record another write holds, or a transient failure.
    if fault == "lock":
        return record_error(
            "The record is being updated by another request; retry it.",
            "CONFLICT",
            context=context,
        )
    return record_error(
        "A temporary error occurred while updating this record; retry it.",
        "INTERNAL_ERROR",
        context=context,
    )


def _oauth_error(status: str, message: str) -> dict[str, Any]:
    return {"status": status, "message": message, "correlationId": correlation_id()}


def _inputs(payload: object, limit: int = MAX_BATCH_INPUTS) -> list[Mapping[str, Any]]:
    inputs = payload.get("inputs") if isinstance(payload, Mapping) else None
    if not isinstance(inputs, list) or not all(isinstance(i, Mapping) for i in inputs):
        raise validation_error("The request body needs an inputs array of objects.")
    if len(inputs) > limit:
        raise validation_error(
            f"Too many inputs: {len(inputs)}; a batch holds at most {limit}.",
            context={"limit": [str(limit)]},
        )
    return inputs


def _json_body(request: Request) -> Any:
    """The request's JSON body; a body that is not JSON gets HubSpot's 400."""
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise validation_error(f"Invalid input JSON on line 1: {exc}") from exc


def _parse_id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else None


def _query_int(request: Request, name: str, default: int | None) -> Any:
    raw = request.query_one(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise validation_error(f"{name} must be a whole number, got {raw!r}.") from None


def _query_list(request: Request, name: str) -> list[str] | None:
    values = request.query.get(name)
    if not values:
        return None
    names = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return names or None


def _link(request: Request, cursor: str, limit: int) -> str:
    host = request.header("Host") or "127.0.0.1"
    return f"http://{host}{request.path}?limit={limit}&after={cursor}"
